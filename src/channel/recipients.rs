//! One alert to several recipients (SMS numbers, Telegram chats), each request on its own:
//! [`Recipients`] remembers, per alert, who has accepted it, so that a retry sends only to
//! those still pending and nobody gets the alert twice; it runs one attempt's requests
//! together and turns their outcomes into the alert's one [`DeliveryError`] (retryable while
//! anyone is pending, rejected when everyone answered and someone refused for good).
//!
//! Owns that bounded progress book and nothing else: the channel builds each request, and
//! the HTTP skeleton ([`crate::channel::http`]) sends and judges it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use futures_util::future::{LocalBoxFuture, join_all};

use crate::client::bounded_text;
use crate::error::DeliveryError;
use crate::messages::Name;

/// How many alerts' per-recipient progress is remembered (oldest forgotten first).
const MAX_TRACKED_ALERTS: usize = 1024;

/// The longest reason an attempt reports, in characters.
const MAX_REASON: usize = 400;

/// Where one recipient stands for one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    /// Not accepted yet: sent (again) on the next attempt.
    Pending,
    /// Accepted by the platform: never sent again.
    Accepted,
    /// Refused for good (invalid number, chat not found …): not retried.
    Rejected(String),
}

/// Per-alert, per-recipient progress, bounded.
#[derive(Debug, Default)]
struct Book {
    alerts: HashMap<Name, Vec<Progress>>,
    order: VecDeque<Name>,
}

impl Book {
    /// The recipients still pending for `id` (all `n`, the first time).
    fn pending(&mut self, id: &Name, n: usize) -> Vec<usize> {
        if !self.alerts.contains_key(id) {
            while self.order.len() >= MAX_TRACKED_ALERTS {
                if let Some(old) = self.order.pop_front() {
                    self.alerts.remove(&old);
                }
            }
            self.order.push_back(id.clone());
            self.alerts.insert(id.clone(), vec![Progress::Pending; n]);
        }
        let p = &self.alerts[id];
        (0..p.len())
            .filter(|&i| p[i] == Progress::Pending)
            .collect()
    }

    fn set(&mut self, id: &Name, i: usize, p: Progress) {
        if let Some(slot) = self.alerts.get_mut(id).and_then(|v| v.get_mut(i)) {
            *slot = p;
        }
    }

    fn still_pending(&self, id: &Name) -> usize {
        self.alerts
            .get(id)
            .map_or(0, |p| p.iter().filter(|p| **p == Progress::Pending).count())
    }

    /// Forgets `id`, answering the rejections it collected.
    fn finish(&mut self, id: &Name) -> Vec<String> {
        self.order.retain(|x| x != id);
        (self.alerts.remove(id).unwrap_or_default().into_iter())
            .filter_map(|p| match p {
                Progress::Rejected(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

/// One request of an attempt: to which recipient, named how in reasons.
pub struct Send {
    /// The recipient's index in the channel's list.
    pub index: usize,
    /// How reasons name the recipient (`chat -100…`, `+6680…0001`).
    pub who: String,
    /// The request, sent and judged.
    pub request: LocalBoxFuture<'static, Result<(), DeliveryError>>,
}

/// The per-recipient progress of one channel (see the module docs).
#[derive(Clone)]
pub struct Recipients {
    book: Rc<RefCell<Book>>,
    /// What the recipients are called in reasons (`recipients`, `chats`).
    noun: &'static str,
    total: usize,
}

impl Recipients {
    /// `total` recipients, called `noun` in reasons.
    pub fn new(total: usize, noun: &'static str) -> Self {
        Self {
            book: Rc::default(),
            noun,
            total,
        }
    }

    /// The recipients `alert_id` still has to reach, by index (all, the first time).
    pub fn pending(&self, alert_id: &Name) -> Vec<usize> {
        self.book.borrow_mut().pending(alert_id, self.total)
    }

    /// Runs one attempt's `sends` for `alert_id` together. Each outcome is recorded as soon
    /// as it is known (an attempt cut short by the channel's timeout keeps what it learnt);
    /// the attempt is retryable while anyone is pending, else rejected if anyone refused.
    pub fn deliver(
        &self,
        alert_id: Name,
        sends: Vec<Send>,
    ) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let this = self.clone();
        let sends: Vec<_> = (sends.into_iter())
            .map(|send| {
                let (book, id) = (this.book.clone(), alert_id.clone());
                async move {
                    let outcome = send.request.await;
                    let progress = match &outcome {
                        Ok(()) => Some(Progress::Accepted),
                        Err(DeliveryError::Rejected { reason }) => {
                            Some(Progress::Rejected(format!("{}: {reason}", send.who)))
                        }
                        Err(DeliveryError::Retryable { .. }) => None,
                    };
                    if let Some(p) = progress {
                        book.borrow_mut().set(&id, send.index, p);
                    }
                    (send.who, outcome)
                }
            })
            .collect();
        Box::pin(async move {
            let mut retry_after = None;
            let mut retry_reasons = Vec::new();
            for (who, outcome) in join_all(sends).await {
                if let Err(DeliveryError::Retryable {
                    reason,
                    retry_after: asked,
                }) = outcome
                {
                    retry_after = retry_after.max(asked);
                    retry_reasons.push(format!("{who}: {reason}"));
                }
            }
            let (total, noun) = (this.total, this.noun);
            let mut book = this.book.borrow_mut();
            if !retry_reasons.is_empty() {
                let still = book.still_pending(&alert_id);
                let reasons = retry_reasons.join("; ");
                return Err(DeliveryError::Retryable {
                    reason: bounded_text(
                        &format!("{still} of {total} {noun} pending; {reasons}"),
                        MAX_REASON,
                    ),
                    retry_after,
                });
            }
            let rejected = book.finish(&alert_id);
            if rejected.is_empty() {
                return Ok(());
            }
            let (n, reasons) = (rejected.len(), rejected.join("; "));
            Err(DeliveryError::Rejected {
                reason: bounded_text(
                    &format!("{n} of {total} {noun} rejected; {reasons}"),
                    MAX_REASON,
                ),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(index: usize, outcome: Result<(), DeliveryError>) -> Send {
        Send {
            index,
            who: format!("r{index}"),
            request: Box::pin(async move { outcome }),
        }
    }

    fn retry() -> Result<(), DeliveryError> {
        Err(DeliveryError::Retryable {
            reason: "503".into(),
            retry_after: None,
        })
    }

    #[actix_rt::test]
    async fn a_retry_reaches_only_who_is_pending_and_rejections_are_reported_once_all_answered() {
        let r = Recipients::new(3, "chats");
        let id = Name::from("a1");
        assert_eq!(r.pending(&id), [0, 1, 2]);
        let rejected = Err(DeliveryError::Rejected {
            reason: "chat not found".into(),
        });
        let sends = vec![send(0, Ok(())), send(1, rejected), send(2, retry())];
        let e = r.deliver(id.clone(), sends).await.unwrap_err();
        assert!(
            matches!(&e, DeliveryError::Retryable { reason, .. } if reason.starts_with("1 of 3 chats pending; r2: 503")),
            "{e:?}"
        );
        assert_eq!(
            r.pending(&id),
            [2],
            "who accepted or refused is not sent again"
        );
        let e = r.deliver(id.clone(), vec![send(2, Ok(()))]).await;
        assert!(
            matches!(&e, Err(DeliveryError::Rejected { reason }) if reason == "1 of 3 chats rejected; r1: chat not found"),
            "{e:?}"
        );
        // Finished: forgotten, so the book stays bounded.
        assert_eq!(r.pending(&id), [0, 1, 2]);
    }
}
