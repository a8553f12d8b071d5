//! (in progress: the ScyllaDB backend)
