//! primary (being built).
