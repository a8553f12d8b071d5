//! Compliance: what the law and a careful operator ask of a chat system that holds personal
//! data. Map:
//! - [`audit`]: the append-only log of agents' and admins' actions;
//! - [`gdpr`]: a visitor's data exported as JSON, or erased everywhere (store, live actors,
//!   caches, attachments through [`PersonalDataHook`]s), with an audit record that survives;
//! - [`retention`]: per-site retention, the SQLite sweeper (ScyllaDB uses TTLs);
//! - [`settings`]: checks of the compliance settings a site admin may change.

pub mod audit;
pub mod gdpr;
pub mod retention;
pub mod settings;

pub use gdpr::PersonalDataHook;
