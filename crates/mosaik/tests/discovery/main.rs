//! Discovery integration tests (loopback).
