//! Who is asking: the identity every command carries to the actor that owns the data, which
//! applies the access rules (a visitor may touch only its own conversations, an agent only its
//! own site's). Plain data, so it crosses nodes with the command.

use serde::{Deserialize, Serialize};

use crate::domain::{AgentId, Author, SiteId, VisitorId};
use crate::protocol::Party;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    Visitor(VisitorId),
    Agent {
        id: AgentId,
        site: SiteId,
        name: String,
    },
}

impl Caller {
    pub fn party(&self) -> Party {
        match self {
            Caller::Visitor(_) => Party::Visitor,
            Caller::Agent { .. } => Party::Agent,
        }
    }

    /// The author of a message this caller sends.
    pub fn author(&self) -> Author {
        match self {
            Caller::Visitor(id) => Author::Visitor { id: *id },
            Caller::Agent { id, name, .. } => Author::Agent {
                id: *id,
                name: name.clone(),
            },
        }
    }
}
