//! What an agent actor is asked and told. Plain data (serde).

use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use crate::cluster::SubscriberId;
use crate::domain::{Agent, Presence};
use crate::entity_messages;

/// A console socket joins; answers with the agent's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attach {
    pub socket: SubscriberId,
}

/// A console socket closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detach {
    pub socket: SubscriberId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetPresence {
    pub status: Presence,
}

/// A pre-encoded frame for every socket of this agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    pub frame: ByteString,
}

/// The agent's record changed in the store (capacity, name, role): reload it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refresh;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetPresence;

/// Whether `socket` is attached: a console socket asks now and then, and re-attaches (by
/// reconnecting) if the agent restarted or moved without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attached {
    pub socket: SubscriberId,
}

entity_messages! {
    entity: super::AgentActor,
    requests: {
        Attach => Agent,
        SetPresence => Presence,
        GetPresence => Presence,
        Attached => bool,
    },
    notices: { Detach, Push, Refresh },
}
