//! DHT bootstrap (pkarr over Mainline) — being written.
