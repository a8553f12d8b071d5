//! Unit tests of the routing rules: no actors, no sockets, no store.

use super::*;
use crate::domain::{SiteId, VisitorId};

fn conv(created_at: Millis, assignee: Option<AgentId>) -> Conversation {
    let mut c = Conversation::new(SiteId::new(), VisitorId::new(), created_at);
    c.assignee = assignee;
    c
}

fn online(rules: &mut RoutingRules, capacity: u32) -> (AgentId, Vec<Effect>) {
    let agent = AgentId::new();
    let (_, effects) = rules.agent_status(agent, "A".into(), capacity, Presence::Online);
    (agent, effects)
}

/// The (conversation, agent) pairs of the assignments among `effects`.
fn assigned(effects: &[Effect]) -> Vec<(ConversationId, AgentId)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Assign {
                conversation_id,
                agent,
                ..
            } => Some((*conversation_id, *agent)),
            _ => None,
        })
        .collect()
}

fn positions(effects: &[Effect]) -> Vec<(ConversationId, u32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Position {
                conversation_id,
                position,
            } => Some((*conversation_id, *position)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_conversation_goes_to_the_least_loaded_agent() {
    let mut rules = RoutingRules::default();
    let (busy, _) = online(&mut rules, 5);
    let first = ConversationId::new();
    assert_eq!(assigned(&rules.enqueued(first, 1)), vec![(first, busy)]);
    let (idle, _) = online(&mut rules, 5);
    let second = ConversationId::new();
    assert_eq!(assigned(&rules.enqueued(second, 2)), vec![(second, idle)]);
}

#[test]
fn ties_go_to_the_agent_assigned_longest_ago() {
    let mut rules = RoutingRules::default();
    let (a, _) = online(&mut rules, 5);
    let (b, _) = online(&mut rules, 5);
    let c1 = ConversationId::new();
    let first = assigned(&rules.enqueued(c1, 1))[0].1;
    rules.released(c1);
    let c2 = ConversationId::new();
    let second = assigned(&rules.enqueued(c2, 2))[0].1;
    assert_ne!(first, second, "equal load: the other agent is next");
    assert!([a, b].contains(&first) && [a, b].contains(&second));
}

#[test]
fn without_room_conversations_wait_in_order_and_learn_their_place() {
    let mut rules = RoutingRules::default();
    let (agent, _) = online(&mut rules, 1);
    let held = ConversationId::new();
    assert_eq!(assigned(&rules.enqueued(held, 1)), vec![(held, agent)]);
    let (w1, w2) = (ConversationId::new(), ConversationId::new());
    assert_eq!(positions(&rules.enqueued(w1, 2)), vec![(w1, 1)]);
    assert_eq!(positions(&rules.enqueued(w2, 3)), vec![(w2, 2)]);
    assert_eq!(rules.queue(), vec![w1, w2]);

    // Capacity frees: the oldest waiting one is assigned at once, the other moves up.
    let effects = rules.released(held);
    assert_eq!(assigned(&effects), vec![(w1, agent)]);
    assert_eq!(positions(&effects), vec![(w2, 1)]);
}

#[test]
fn an_agent_coming_online_drains_the_queue_up_to_its_capacity() {
    let mut rules = RoutingRules::default();
    let waiting: Vec<ConversationId> = (0..3).map(|_| ConversationId::new()).collect();
    for (i, c) in waiting.iter().enumerate() {
        assert!(assigned(&rules.enqueued(*c, i as Millis)).is_empty());
    }
    assert!(!rules.agents_online());
    let (agent, effects) = online(&mut rules, 2);
    assert!(rules.agents_online());
    assert_eq!(
        assigned(&effects),
        vec![(waiting[0], agent), (waiting[1], agent)]
    );
    assert_eq!(positions(&effects), vec![(waiting[2], 1)]);
}

#[test]
fn an_away_agent_keeps_its_chats_but_gets_no_new_ones() {
    let mut rules = RoutingRules::default();
    let (agent, _) = online(&mut rules, 5);
    let held = ConversationId::new();
    rules.enqueued(held, 1);
    let (changed, effects) = rules.agent_status(agent, "A".into(), 5, Presence::Away);
    assert!(changed);
    assert!(effects.is_empty(), "nothing is released");
    assert!(assigned(&rules.enqueued(ConversationId::new(), 2)).is_empty());
}

#[test]
fn an_offline_agent_has_its_chats_requeued_at_the_head_in_waiting_order() {
    let mut rules = RoutingRules::default();
    let (agent, _) = online(&mut rules, 2);
    let (old, young) = (ConversationId::new(), ConversationId::new());
    rules.enqueued(old, 10);
    rules.enqueued(young, 20);
    let newcomer = ConversationId::new();
    rules.enqueued(newcomer, 30);
    let (_, effects) = rules.agent_status(agent, "A".into(), 2, Presence::Offline);
    let mut unassigned: Vec<ConversationId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Unassign { conversation_id } => Some(*conversation_id),
            _ => None,
        })
        .collect();
    unassigned.sort();
    let mut expected = vec![old, young];
    expected.sort();
    assert_eq!(unassigned, expected);
    // The shell stores each unassignment, then requeues it with its creation time.
    rules.requeue(young, 20);
    rules.requeue(old, 10);
    assert_eq!(rules.queue(), vec![old, young, newcomer]);
}

#[test]
fn the_answer_clock_starts_when_the_visitor_writes_and_reassigns_when_it_runs_out() {
    let mut rules = RoutingRules::default();
    let (slow, _) = online(&mut rules, 1);
    let c = ConversationId::new();
    assert_eq!(assigned(&rules.enqueued(c, 1)), vec![(c, slow)]);
    let (other, _) = online(&mut rules, 1);
    assert_eq!(rules.awaiting_answer(c, slow, 1_000, 500), Some(1_500));
    assert_eq!(
        rules.awaiting_answer(c, slow, 1_200, 500),
        None,
        "already running"
    );
    assert!(rules.answer_due(c, slow, 1_499).is_empty(), "not yet due");
    let effects = rules.answer_due(c, slow, 1_500);
    assert_eq!(assigned(&effects), vec![(c, other)]);
    assert!(matches!(
        &effects[0],
        Effect::Assign {
            reason: "answer_timeout",
            ..
        }
    ));
}

#[test]
fn an_answer_stops_the_clock() {
    let mut rules = RoutingRules::default();
    let (agent, _) = online(&mut rules, 1);
    let c = ConversationId::new();
    rules.enqueued(c, 1);
    online(&mut rules, 1);
    rules.awaiting_answer(c, agent, 0, 100);
    rules.answered(c, agent);
    assert!(rules.answer_due(c, agent, 1_000).is_empty());
    assert_eq!(
        rules.awaiting_answer(c, agent, 1_000, 100),
        None,
        "answered assignments owe nothing until reassigned"
    );
}

#[test]
fn a_take_ignores_capacity_and_owes_no_answer_but_a_transfer_does() {
    let mut rules = RoutingRules::default();
    let (full, _) = online(&mut rules, 0);
    let c = ConversationId::new();
    rules.enqueued(c, 1);
    assert_eq!(rules.queue(), vec![c]);
    assert_eq!(
        assigned(&rules.take(c, full, "Full", false)),
        vec![(c, full)]
    );
    assert!(rules.queue().is_empty());
    assert_eq!(
        rules.awaiting_answer(c, full, 0, 100),
        None,
        "a take is its own answer"
    );

    let (to, _) = online(&mut rules, 0);
    rules.take(c, to, "To", true);
    assert_eq!(rules.awaiting_answer(c, to, 0, 100), Some(100));
    assert_eq!(
        rules.awaiting_answer(c, full, 0, 100),
        None,
        "the old holder owes nothing"
    );
}

#[test]
fn a_reopened_conversation_returns_to_its_present_agent_or_the_queue_head() {
    let mut rules = RoutingRules::default();
    let (agent, _) = online(&mut rules, 0);
    let c = ConversationId::new();
    assert!(rules.reopened(c, Some(agent), 5).is_empty());
    assert!(rules.queue().is_empty(), "held by its agent again");

    let gone = AgentId::new();
    let d = ConversationId::new();
    let late = ConversationId::new();
    rules.enqueued(late, 50);
    rules.reopened(d, Some(gone), 10);
    assert_eq!(rules.queue(), vec![d, late]);
}

#[test]
fn load_counts_assigned_rows_and_queues_the_rest_oldest_first() {
    let agent = AgentId::new();
    let young = conv(20, None);
    let old = conv(10, None);
    let held = conv(5, Some(agent));
    let rules = RoutingRules::load(vec![young.clone(), held, old.clone()]);
    assert_eq!(rules.queue(), vec![old.id, young.id]);
    assert_eq!(rules.absent_holders(), vec![agent]);
    assert_eq!(rules.queue_len(), 2);
}

#[test]
fn nobody_online_means_no_queue_positions_until_an_agent_returns() {
    let mut rules = RoutingRules::default();
    let (w1, w2) = (ConversationId::new(), ConversationId::new());
    assert!(positions(&rules.enqueued(w1, 1)).is_empty());
    assert!(positions(&rules.enqueued(w2, 2)).is_empty());
    // An agent with room for one: w1 is assigned, w2 learns its place at last.
    let (agent, effects) = online(&mut rules, 1);
    assert_eq!(assigned(&effects), vec![(w1, agent)]);
    assert_eq!(positions(&effects), vec![(w2, 1)]);
    // Everyone leaves: positions are forgotten, and told again when someone is back.
    let (_, effects) = rules.agent_status(agent, "A".into(), 1, Presence::Offline);
    assert!(positions(&effects).is_empty());
    assert!(positions(&rules.requeue(w1, 1)).is_empty());
    let (_, effects) = online(&mut rules, 0);
    assert_eq!(positions(&effects), vec![(w1, 1), (w2, 2)]);
}
