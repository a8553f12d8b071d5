//! The routing rules of one site, as a plain struct: who is present, every agent's load and
//! capacity, the waiting queue, and which assignments owe an answer.
//!
//! - A conversation goes to the least-loaded online agent under capacity (ties: the one
//!   assigned longest ago); otherwise it waits in FIFO order and its visitor sees its position.
//! - The moment capacity frees or an agent comes online, the oldest waiting conversation is
//!   assigned (the queue is drained at once, never by a periodic sweep).
//! - An assignment must be answered within the timeout once the visitor has written; if not,
//!   it moves to another agent with room.
//! - An agent that goes offline has its conversations put back at the head of the queue, in
//!   waiting order.
//!
//! Every method returns the [`Effect`]s the router actor must carry out (store an assignment,
//! clear one, tell a visitor its position). Time is passed in as monotonic milliseconds.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::clock::Millis;
use crate::domain::{AgentId, Conversation, ConversationId, Presence};

/// Monotonic milliseconds (the router's own clock), for answer deadlines.
pub type MonoMillis = u64;

/// What the router actor must do after a rule fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Store and announce that `agent` now holds the conversation.
    Assign {
        conversation_id: ConversationId,
        agent: AgentId,
        agent_name: String,
        reason: &'static str,
        /// When it started waiting, if it was taken from the queue (for the wait histogram).
        waited_since: Option<Millis>,
    },
    /// Clear the conversation's assignee in the store, then call [`RoutingRules::requeue`].
    Unassign { conversation_id: ConversationId },
    /// A waiting conversation's place in line changed (1 = next).
    Position {
        conversation_id: ConversationId,
        position: u32,
    },
}

struct AgentSlot {
    name: String,
    capacity: u32,
    presence: Presence,
    load: HashSet<ConversationId>,
    /// Counter of the last assignment, for the least-recently-assigned tie-break.
    last_assigned: u64,
}

#[derive(Default)]
pub struct RoutingRules {
    agents: HashMap<AgentId, AgentSlot>,
    queue: VecDeque<(ConversationId, Millis)>,
    owner: HashMap<ConversationId, AgentId>,
    /// Assignments that must be answered; `Some(deadline)` once the visitor wrote.
    awaiting: HashMap<ConversationId, Option<MonoMillis>>,
    positions: HashMap<ConversationId, u32>,
    assignments: u64,
}

impl RoutingRules {
    /// Start from the site's open conversations (assigned ones count toward their agent's
    /// load; the others wait, oldest first).
    pub fn load(mut open: Vec<Conversation>) -> Self {
        let mut rules = RoutingRules::default();
        open.sort_by_key(|c| c.created_at);
        for conv in open {
            match conv.assignee {
                Some(agent) => rules.hold(conv.id, agent),
                None => rules.enqueue(conv.id, conv.created_at, false),
            }
        }
        rules
    }

    // ---- what the router answers ----

    pub fn agents_online(&self) -> bool {
        self.agents.values().any(|a| a.presence == Presence::Online)
    }

    /// The waiting conversations, oldest first.
    pub fn queue(&self) -> Vec<ConversationId> {
        self.queue.iter().map(|(c, _)| *c).collect()
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn presence(&self) -> Vec<(AgentId, Presence)> {
        self.agents
            .iter()
            .map(|(id, a)| (*id, a.presence))
            .collect()
    }

    /// Agents that are not offline: they get inbox updates.
    pub fn present_agents(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents
            .iter()
            .filter(|(_, a)| a.presence != Presence::Offline)
            .map(|(id, _)| *id)
    }

    pub fn is_present(&self, agent: AgentId) -> bool {
        self.agents
            .get(&agent)
            .is_some_and(|a| a.presence != Presence::Offline)
    }

    /// Offline agents that still hold conversations (after a router restart, their grace
    /// period runs from the start).
    pub fn absent_holders(&self) -> Vec<AgentId> {
        self.agents
            .iter()
            .filter(|(_, a)| a.presence == Presence::Offline && !a.load.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    // ---- events ----

    /// An agent's presence or capacity changed. Returns whether its presence changed.
    pub fn agent_status(
        &mut self,
        agent: AgentId,
        name: String,
        capacity: u32,
        presence: Presence,
    ) -> (bool, Vec<Effect>) {
        let slot = self.slot(agent);
        let changed = slot.presence != presence;
        slot.name = name;
        slot.capacity = capacity;
        slot.presence = presence;
        let mut effects = Vec::new();
        if presence == Presence::Offline {
            effects.extend(self.release_agent(agent));
        }
        if !self.agents_online() {
            // Positions mean nothing while nobody is online; all are told again on return.
            self.positions.clear();
        }
        effects.extend(self.drain());
        (changed, effects)
    }

    /// A new conversation wants an agent.
    pub fn enqueued(&mut self, conversation_id: ConversationId, since: Millis) -> Vec<Effect> {
        self.enqueue(conversation_id, since, false);
        self.drain()
    }

    /// An assignee's conversation went back to the queue (after [`Effect::Unassign`] stored).
    pub fn requeue(&mut self, conversation_id: ConversationId, since: Millis) -> Vec<Effect> {
        self.enqueue(conversation_id, since, true);
        self.drain()
    }

    /// Snoozed or closed: it no longer waits nor counts toward anyone's load.
    pub fn released(&mut self, conversation_id: ConversationId) -> Vec<Effect> {
        self.unqueue(conversation_id);
        self.unassign(conversation_id);
        self.drain()
    }

    /// A snoozed conversation is open again: back to its agent if present, else to the head
    /// of the queue.
    pub fn reopened(
        &mut self,
        conversation_id: ConversationId,
        assignee: Option<AgentId>,
        since: Millis,
    ) -> Vec<Effect> {
        match assignee.filter(|a| self.is_present(*a)) {
            Some(agent) => {
                self.hold(conversation_id, agent);
                Vec::new()
            }
            None => self.requeue(conversation_id, since),
        }
    }

    /// An agent takes a conversation (or is given it by transfer), regardless of capacity.
    /// A transfer must still be answered by the new agent; a take is its own answer.
    pub fn take(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        agent_name: &str,
        needs_answer: bool,
    ) -> Vec<Effect> {
        // Taken from the queue: its wait ends here (queue-wait analytics).
        let waited_since = self.unqueue(conversation_id);
        let slot = self.slot(agent);
        if slot.name.is_empty() {
            slot.name = agent_name.to_owned();
        }
        let reason = if needs_answer { "transfer" } else { "take" };
        let assign = self.assign(conversation_id, agent, reason, needs_answer, waited_since);
        let mut effects = vec![assign];
        effects.extend(self.drain());
        effects
    }

    /// The visitor wrote to an assignment that owes an answer: start its clock. Returns the
    /// deadline to check at, or `None` when no clock starts (not owed, or already running).
    pub fn awaiting_answer(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        now: MonoMillis,
        timeout_ms: u64,
    ) -> Option<MonoMillis> {
        if self.owner.get(&conversation_id) != Some(&agent) {
            return None;
        }
        match self.awaiting.get_mut(&conversation_id) {
            Some(deadline @ None) => {
                *deadline = Some(now + timeout_ms);
                *deadline
            }
            _ => None,
        }
    }

    /// The assignee answered: its clock stops.
    pub fn answered(&mut self, conversation_id: ConversationId, agent: AgentId) {
        if self.owner.get(&conversation_id) == Some(&agent) {
            self.awaiting.remove(&conversation_id);
        }
    }

    /// A deadline from [`Self::awaiting_answer`] came: if the clock still runs out at or
    /// before `now` and someone else has room, move the conversation to them.
    pub fn answer_due(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        now: MonoMillis,
    ) -> Vec<Effect> {
        let due = matches!(self.awaiting.get(&conversation_id), Some(Some(d)) if *d <= now);
        if !due || self.owner.get(&conversation_id) != Some(&agent) {
            return Vec::new();
        }
        self.awaiting.remove(&conversation_id);
        let Some(other) = self.pick_agent(Some(agent)) else {
            return Vec::new();
        };
        let mut effects = vec![self.assign(conversation_id, other, "answer_timeout", true, None)];
        effects.extend(self.drain());
        effects
    }

    /// Put an absent agent's conversations back (each is unassigned in the store first).
    pub fn release_agent(&mut self, agent: AgentId) -> Vec<Effect> {
        let held: Vec<ConversationId> = self
            .agents
            .get(&agent)
            .map(|a| a.load.iter().copied().collect())
            .unwrap_or_default();
        held.into_iter()
            .map(|conversation_id| {
                self.unassign(conversation_id);
                Effect::Unassign { conversation_id }
            })
            .collect()
    }

    // ---- internals ----

    fn slot(&mut self, agent: AgentId) -> &mut AgentSlot {
        self.agents.entry(agent).or_insert_with(|| AgentSlot {
            name: String::new(),
            capacity: 0,
            presence: Presence::Offline,
            load: HashSet::new(),
            last_assigned: 0,
        })
    }

    /// Count a conversation toward an agent's load without announcing it (it already is).
    fn hold(&mut self, conversation_id: ConversationId, agent: AgentId) {
        self.slot(agent).load.insert(conversation_id);
        self.owner.insert(conversation_id, agent);
    }

    /// The least-loaded online agent with room, ties to the one assigned longest ago.
    fn pick_agent(&self, except: Option<AgentId>) -> Option<AgentId> {
        self.agents
            .iter()
            .filter(|(id, a)| Some(**id) != except && a.presence == Presence::Online)
            .filter(|(_, a)| (a.load.len() as u32) < a.capacity)
            .min_by_key(|(_, a)| (a.load.len(), a.last_assigned))
            .map(|(id, _)| *id)
    }

    fn enqueue(&mut self, conversation_id: ConversationId, since: Millis, at_front: bool) {
        if self.owner.contains_key(&conversation_id)
            || self.queue.iter().any(|(c, _)| *c == conversation_id)
        {
            return;
        }
        if at_front {
            // Keep the head ordered by waiting time among requeued conversations.
            let at = self
                .queue
                .iter()
                .position(|(_, s)| *s > since)
                .unwrap_or(self.queue.len());
            self.queue.insert(at, (conversation_id, since));
        } else {
            self.queue.push_back((conversation_id, since));
        }
    }

    /// Take a conversation out of the queue; since when it waited, if it was there.
    fn unqueue(&mut self, conversation_id: ConversationId) -> Option<Millis> {
        let at = self.queue.iter().position(|(c, _)| *c == conversation_id)?;
        self.positions.remove(&conversation_id);
        self.queue.remove(at).map(|(_, since)| since)
    }

    /// Remove a conversation from whoever holds it (its answer clock stops).
    fn unassign(&mut self, conversation_id: ConversationId) -> Option<AgentId> {
        self.awaiting.remove(&conversation_id);
        let agent = self.owner.remove(&conversation_id)?;
        if let Some(slot) = self.agents.get_mut(&agent) {
            slot.load.remove(&conversation_id);
        }
        Some(agent)
    }

    fn assign(
        &mut self,
        conversation_id: ConversationId,
        agent: AgentId,
        reason: &'static str,
        needs_answer: bool,
        waited_since: Option<Millis>,
    ) -> Effect {
        self.unassign(conversation_id);
        self.assignments += 1;
        let stamp = self.assignments;
        let slot = self.slot(agent);
        slot.load.insert(conversation_id);
        slot.last_assigned = stamp;
        let agent_name = slot.name.clone();
        self.owner.insert(conversation_id, agent);
        if needs_answer {
            // The clock starts only once the visitor has written something to answer: an idle
            // visitor's chat never times out.
            self.awaiting.insert(conversation_id, None);
        }
        Effect::Assign {
            conversation_id,
            agent,
            agent_name,
            reason,
            waited_since,
        }
    }

    /// Assign the oldest waiting conversations while some agent has room, then tell the
    /// others their new places (only while some agent is online: "number 1 in line" with
    /// nobody to answer would be a false promise; the widget offers leave-a-message instead).
    fn drain(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        while let Some(&(conversation_id, since)) = self.queue.front() {
            let Some(agent) = self.pick_agent(None) else {
                break;
            };
            self.unqueue(conversation_id);
            effects.push(self.assign(conversation_id, agent, "auto", true, Some(since)));
        }
        if !self.agents_online() {
            return effects;
        }
        for (index, (conversation_id, _)) in self.queue.iter().enumerate() {
            let position = index as u32 + 1;
            if self.positions.insert(*conversation_id, position) != Some(position) {
                effects.push(Effect::Position {
                    conversation_id: *conversation_id,
                    position,
                });
            }
        }
        effects
    }
}

#[cfg(test)]
mod tests;
