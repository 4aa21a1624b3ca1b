//! replica (being built).
