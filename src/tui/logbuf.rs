//! The logs pane's memory: a ring per container (capped in lines; lines are already capped
//! in bytes), an arrival-ordered index across them, and an incrementally maintained filtered
//! view, so a frame never re-scans or re-matches the whole history.

use crate::ops::logs::LogLine;
use crate::ops::logs::{LogRecord, LogSource};
use regex::Regex;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug)]
pub struct LogBuffer {
    pub sources: Vec<Arc<LogSource>>,
    rings: Vec<VecDeque<(u64, LogLine)>>,
    next_seq: Vec<u64>,
    /// Arrival order of entries that match the filter: (source index, seq).
    view: VecDeque<(usize, u64)>,
    cap: usize,
    filter: Option<Regex>,
    /// Lines received in total (for the title).
    pub received: u64,
}

impl LogBuffer {
    pub fn new(cap_per_container: usize) -> Self {
        Self {
            sources: Vec::new(),
            rings: Vec::new(),
            next_seq: Vec::new(),
            view: VecDeque::new(),
            cap: cap_per_container.max(1),
            filter: None,
            received: 0,
        }
    }

    fn source_index(&mut self, s: &Arc<LogSource>) -> usize {
        if let Some(i) = self
            .sources
            .iter()
            .position(|x| x.host == s.host && x.id == s.id)
        {
            return i;
        }
        self.sources.push(s.clone());
        self.rings.push(VecDeque::new());
        self.next_seq.push(0);
        self.sources.len() - 1
    }

    pub fn push(&mut self, records: Vec<LogRecord>) {
        for r in records {
            self.received += 1;
            let i = self.source_index(&r.source);
            let seq = self.next_seq[i];
            self.next_seq[i] += 1;
            let matches = self
                .filter
                .as_ref()
                .is_none_or(|f| f.is_match(&r.line.text));
            let ring = &mut self.rings[i];
            if ring.len() >= self.cap {
                ring.pop_front();
            }
            ring.push_back((seq, r.line));
            if matches {
                self.view.push_back((i, seq));
            }
        }
        // Drop view entries whose lines were evicted, so the index stays bounded too.
        let live: usize = self.rings.iter().map(VecDeque::len).sum();
        if self.view.len() > live * 2 + 1024 {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let rings = &self.rings;
        self.view
            .retain(|(i, seq)| rings[*i].front().is_some_and(|(first, _)| seq >= first));
    }

    fn get(&self, i: usize, seq: u64) -> Option<&LogLine> {
        let ring = self.rings.get(i)?;
        let (first, _) = ring.front()?;
        let offset = seq.checked_sub(*first)? as usize;
        ring.get(offset).map(|(_, l)| l)
    }

    /// Set (or clear) the filter; rebuilds the view once.
    pub fn set_filter(&mut self, filter: Option<Regex>) {
        self.filter = filter;
        let mut all: Vec<(usize, u64)> = Vec::new();
        for (i, ring) in self.rings.iter().enumerate() {
            for (seq, line) in ring {
                if self.filter.as_ref().is_none_or(|f| f.is_match(&line.text)) {
                    all.push((i, *seq));
                }
            }
        }
        // Arrival order across containers: by timestamp where known, else by source order.
        all.sort_by_key(|(i, seq)| (self.get(*i, *seq).and_then(|l| l.ts), *i, *seq));
        self.view = all.into();
    }

    /// Lines in the view (matching the filter, not evicted). The index may still hold a
    /// few evicted entries until it is compacted; they never count.
    pub fn len(&self) -> usize {
        self.view.len().min(self.held())
    }

    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// Up to `n` lines ending `back` lines before the newest, oldest first.
    pub fn window(&self, n: usize, back: usize) -> Vec<(usize, &LogLine)> {
        let mut out = Vec::with_capacity(n.min(self.view.len()));
        let mut skipped = 0;
        for (i, seq) in self.view.iter().rev() {
            let Some(line) = self.get(*i, *seq) else {
                continue;
            };
            if skipped < back {
                skipped += 1;
                continue;
            }
            out.push((*i, line));
            if out.len() == n {
                break;
            }
        }
        out.reverse();
        out
    }

    /// Every line of the view, oldest first (for saving).
    pub fn all(&self) -> Vec<(usize, &LogLine)> {
        self.window(usize::MAX, 0)
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Lines held in memory.
    pub fn held(&self) -> usize {
        self.rings.iter().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::logs::LogStream;

    fn rec(src: &Arc<LogSource>, text: &str) -> LogRecord {
        LogRecord {
            source: src.clone(),
            line: LogLine {
                ts: None,
                stream: LogStream::Stdout,
                text: text.into(),
                cut_bytes: 0,
            },
        }
    }

    fn source(name: &str) -> Arc<LogSource> {
        Arc::new(LogSource {
            host: "h".into(),
            id: name.into(),
            container: name.into(),
            service: None,
        })
    }

    #[test]
    fn caps_hold_and_the_filter_view_follows() {
        let (a, b) = (source("a"), source("b"));
        let mut buf = LogBuffer::new(100);
        for n in 0..10_000 {
            buf.push(vec![
                rec(&a, &format!("a line {n}")),
                rec(
                    &b,
                    &format!("b {}", if n % 2 == 0 { "even" } else { "odd" }),
                ),
            ]);
        }
        assert_eq!(buf.held(), 200, "100 per container");
        assert!(buf.view.len() <= 200 * 2 + 1024, "the index is bounded too");
        let w = buf.window(3, 0);
        assert_eq!(w.last().map(|(_, l)| l.text.as_str()), Some("b odd"));
        buf.set_filter(Some(Regex::new("even").expect("re")));
        assert_eq!(buf.len(), 50);
        buf.push(vec![rec(&b, "even newer"), rec(&a, "not this")]);
        assert_eq!(buf.window(1, 0)[0].1.text, "even newer");
        assert_eq!(buf.window(1, 1)[0].1.text, "b even");
        buf.set_filter(None);
        assert_eq!(buf.len(), 200);
    }
}
