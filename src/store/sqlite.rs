//! (in progress: the SQLite backend)
