//! Finds the running `Conversation` actor of a conversation or starts one, spreading actors over
//! a small pool of arbiters. A stopped (idle) or dead actor is replaced on the next request and
//! rebuilds itself from its snapshot.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle};
use parking_lot::Mutex;

use super::conversation::{Conversation, ConversationDeps};
use crate::ids::ConversationId;

pub struct ConversationRegistry {
    live: Mutex<HashMap<ConversationId, (u64, Addr<Conversation>)>>,
    generation: AtomicU64,
    arbiters: Vec<ArbiterHandle>,
    deps: ConversationDeps,
}

impl ConversationRegistry {
    pub fn new(deps: ConversationDeps, arbiters: Vec<ArbiterHandle>) -> Arc<Self> {
        Arc::new(ConversationRegistry {
            live: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(1),
            arbiters,
            deps,
        })
    }

    /// What every Conversation actor is given (also what opening a conversation needs).
    pub fn deps(&self) -> &ConversationDeps {
        &self.deps
    }

    /// The conversation's actor, started (on its arbiter) if none is running.
    pub fn get_or_start(self: &Arc<Self>, id: ConversationId) -> Addr<Conversation> {
        let mut live = self.live.lock();
        if let Some((_, addr)) = live.get(&id) {
            if addr.connected() {
                return addr.clone();
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let deps = self.deps.clone();
        let registry = Arc::downgrade(self);
        let make = move |_: &mut actix::Context<Conversation>| {
            Conversation::new(id, generation, deps, registry)
        };
        let addr = match self.arbiter_for(id) {
            Some(arbiter) => Conversation::start_in_arbiter(arbiter, make),
            None => Conversation::create(make),
        };
        live.insert(id, (generation, addr.clone()));
        addr
    }

    /// The conversation's actor if one is running; never starts one.
    pub fn running(&self, id: ConversationId) -> Option<Addr<Conversation>> {
        self.live
            .lock()
            .get(&id)
            .filter(|(_, addr)| addr.connected())
            .map(|(_, addr)| addr.clone())
    }

    /// Called by an actor as it stops; a newer actor for the same conversation is left alone.
    pub fn forget(&self, id: ConversationId, generation: u64) {
        let mut live = self.live.lock();
        if live.get(&id).is_some_and(|(g, _)| *g == generation) {
            live.remove(&id);
        }
    }

    pub fn all_running(&self) -> Vec<Addr<Conversation>> {
        self.live.lock().values().map(|(_, a)| a.clone()).collect()
    }

    pub fn live_count(&self) -> usize {
        self.live.lock().len()
    }

    fn arbiter_for(&self, id: ConversationId) -> Option<&ArbiterHandle> {
        if self.arbiters.is_empty() {
            return None;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        let index = (hasher.finish() % self.arbiters.len() as u64) as usize;
        self.arbiters.get(index)
    }
}
