//! Reading the current states: SIM by SIM, or by listing the fleet.

use super::*;

/// What reading a SIM gave.
#[derive(Debug, Clone)]
pub(super) enum Read {
    Found(SimSnapshot),
    NotFound(RowError),
    /// Refused before sending (an id the provider cannot have).
    Refused(RowError),
    Failed(RowError),
}

/// Reads the current state of the SIMs named by `ids` at one provider, by the rule in the module
/// docs, and hands each answer to `answer` as soon as it is known, with every position of `ids`
/// it answers for (a SIM named twice, or by its SID and by its unique name, answers several) and
/// the position an earlier answer about the same SIM was given to, if any. Each position is
/// answered exactly once, the first of a group first. A listed SIM is dropped once answered, so a
/// plan never holds the whole listing.
pub(super) async fn read_states(
    provider: &dyn SimProvider,
    ids: &[&str],
    options: ReadOptions,
    answer: &mut Answer<'_>,
) -> Reads {
    let mut reads = Reads::default();
    // Each distinct id with the first position naming it; later positions naming the same id
    // are answered with it.
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    let mut repeats: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, id) in ids.iter().enumerate() {
        match first.entry(id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(k);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                repeats.entry(*o.get()).or_default().push(k);
            }
        }
    }
    let mut answered = vec![false; ids.len()];
    let mut group: Vec<usize> = Vec::new();
    // Puts `k` and the positions repeating its id into `group`, marked answered.
    let gather = |group: &mut Vec<usize>, answered: &mut [bool], k: usize| {
        group.push(k);
        answered[k] = true;
        if let Some(more) = repeats.get(&k) {
            for &r in more {
                group.push(r);
                answered[r] = true;
            }
        }
    };
    if ids.len() > options.fetch_at_most {
        // How many distinct ids are still to be answered.
        let mut wanted = first.len();
        // ListOptions is non-exhaustive outside simcore: set the field on the default.
        let mut list = ListOptions::new();
        list.page_size = options.page_size;
        let mut pages = provider.list(&list);
        // A page already asked for while the one before it was matched.
        let mut ahead: Option<Option<simcore::Result<Vec<SimSnapshot>>>> = None;
        // Attempts at the page being read.
        let mut attempt = 0;
        while wanted > 0 {
            let next = match ahead.take() {
                Some(next) => next,
                None => pages.next().await,
            };
            let Some(page) = next else {
                break;
            };
            let page = match page {
                Ok(page) => {
                    attempt = 0;
                    page
                }
                Err(e) => {
                    // A page that failed is read again within the retry policy, from that page
                    // on (from the start when the listing cannot say where it stood).
                    attempt += 1;
                    let Some(wait) =
                        simcore::retry::decide(&options.retry, attempt, &retry_outcome(&e))
                    else {
                        // A listing that fails for good (or that the provider does not offer)
                        // leaves the rest to single fetches.
                        break;
                    };
                    tokio::time::sleep(wait.sample(fastrand::f64())).await;
                    let mut again = list.clone();
                    again.resume = pages.position().cloned();
                    pages = provider.list(&again);
                    reads.pages_retried += 1;
                    continue;
                }
            };
            // Each SIM can answer for its id and its aliases at most: when the ids still wanted
            // outnumber those, another page is needed for certain, so it is asked for now and
            // travels while this one is matched (and never asked for when it is not needed).
            let can_answer: usize = page.iter().map(|s| 1 + s.aliases.len()).sum();
            if wanted > can_answer {
                ahead = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(match pages.poll_next_unpin(cx) {
                        std::task::Poll::Ready(next) => Some(next),
                        std::task::Poll::Pending => None,
                    })
                })
                .await;
            }
            reads.list_pages += 1;
            reads.listed += page.len() as u64;
            for snap in page {
                // Which wanted positions this SIM answers for: by its id, or by an alias.
                group.clear();
                for name in std::iter::once(&snap.id).chain(&snap.aliases) {
                    match first.get(name.as_str()) {
                        Some(&k) if !answered[k] => {
                            gather(&mut group, &mut answered, k);
                            wanted -= 1;
                        }
                        _ => {}
                    }
                }
                if !group.is_empty() {
                    group.sort_unstable();
                    answer(&group, None, &Read::Found(snap));
                }
            }
        }
    }
    // The rest, one fetch each.
    let mut missing: Vec<usize> = first.values().copied().filter(|&k| !answered[k]).collect();
    missing.sort_unstable();
    reads.fetches = missing.len() as u64;
    let mut fetched: Vec<(usize, Read)> = stream::iter(missing)
        .map(|k| async move {
            let read = match provider.fetch(ids[k]).await {
                Ok(s) => Read::Found(s),
                Err(e) if e.is_not_found() => Read::NotFound(e.into()),
                Err(e) if e.was_not_sent() => Read::Refused(e.into()),
                Err(e) => Read::Failed(e.into()),
            };
            (k, read)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    // Answered in the order of `ids`, whatever order the fetches ended in: the first row to
    // name a SIM is the first answered.
    fetched.sort_unstable_by_key(|(k, _)| *k);
    for (k, read) in fetched {
        group.clear();
        gather(&mut group, &mut answered, k);
        // A SIM fetched by one name may have been answered already under another (its SID
        // listed, say): the position that was answered first.
        let earlier = match &read {
            Read::Found(snap) => std::iter::once(&snap.id)
                .chain(&snap.aliases)
                .filter_map(|name| first.get(name.as_str()).copied())
                .filter(|&p| p != k && answered[p])
                .min(),
            _ => None,
        };
        answer(&group, earlier, &read);
    }
    reads
}

/// [`read_states`], each answer kept at every position it answers for.
pub(super) async fn read_all(
    provider: &dyn SimProvider,
    ids: &[&str],
    options: ReadOptions,
) -> (Vec<Read>, Reads) {
    let mut found: Vec<Option<Read>> = vec![None; ids.len()];
    let reads = read_states(provider, ids, options, &mut |group, _, read| {
        for &k in group {
            found[k] = Some(read.clone());
        }
    })
    .await;
    let found = found
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Read::Failed(Error::Config("the SIM was not read".to_owned()).into())
            })
        })
        .collect();
    (found, reads)
}

/// What [`read_states`] hands each answer to: the positions it answers for, the position an
/// earlier answer about the same SIM went to, and the answer.
pub(super) type Answer<'a> = dyn FnMut(&[usize], Option<usize>, &Read) + Send + 'a;

/// How [`read_states`] reads.
#[derive(Debug, Clone)]
pub(super) struct ReadOptions {
    pub(super) fetch_at_most: usize,
    pub(super) concurrency: usize,
    pub(super) page_size: Option<u32>,
    /// How a failed page of a listing is tried again.
    pub(super) retry: RetryPolicy,
}
