//! The action palette: parsing the typed command, Tab completion and the version picker.

use super::{App, Popup};
use crate::ops;
use tui_textarea::TextArea;

impl App {
    pub fn palette_text(&self) -> String {
        self.palette.lines().join(" ")
    }

    pub(super) fn submit_palette(&mut self) {
        let line = self.palette_text();
        let apps = &self.apps;
        let hosts = &self.model.hosts;
        match ops::action::parse_command(&line, |a| apps.contains_key(a), |h| hosts.contains_key(h))
        {
            Ok(action) => {
                self.popup = Popup::None;
                self.palette = new_palette();
                self.palette_error = None;
                self.start_action(action);
            }
            Err(e) => self.palette_error = Some(e.message),
        }
    }

    /// Everything the palette can complete to, for the word being typed.
    pub fn completions(&self, line: &str) -> Vec<String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let typing_new_word = line.ends_with(' ') || line.is_empty();
        let (index, prefix) = if typing_new_word {
            (words.len(), "")
        } else {
            (words.len() - 1, *words.last().unwrap_or(&""))
        };
        let verb = words.first().copied().unwrap_or("");
        let app_verb = matches!(
            verb,
            "deploy" | "rollback" | "up" | "down" | "pull" | "maintenance"
        );
        let candidates: Vec<String> = if index == 1 && app_verb {
            self.apps.keys().cloned().collect()
        } else if index == 2 && (verb == "deploy" || verb == "rollback") {
            self.version_choices(words.get(1).copied().unwrap_or(""))
        } else if index == 1 && verb.starts_with("route-") {
            self.model.hosts.keys().cloned().collect()
        } else if index == 2 && verb == "route-remove" {
            let host = words.get(1).copied().unwrap_or("");
            self.route_rows()
                .into_iter()
                .filter(|(h, r)| *h == host && r.route.provider == "file")
                .map(|(_, r)| r.route.router.clone())
                .collect()
        } else if index == 0 {
            ops::action::COMMANDS
                .iter()
                .map(|(c, _)| c.to_string())
                .collect()
        } else if index == 1 {
            let mut t: Vec<String> = Vec::new();
            for (app, services) in &self.apps {
                t.push(app.clone());
                t.extend(services.iter().map(|s| format!("{app}/{s}")));
            }
            let many = self.model.hosts.len() > 1;
            for c in self.model.containers.values() {
                t.push(if many {
                    format!("{}/{}", c.host, c.name)
                } else {
                    c.name.clone()
                });
            }
            t.sort();
            t.dedup();
            t
        } else {
            vec![]
        };
        candidates
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    pub fn host_images_loaded(&mut self, images: Vec<(String, String)>) {
        self.host_images = images;
    }

    /// Versions to offer for an app: the tags its containers run now, then those in the
    /// journal's deploys and rollbacks (newest first), then the other tags of the same images
    /// present on its hosts (a rollback target that needs no pull).
    pub fn version_choices(&self, app: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let services = self.apps.get(app).cloned().unwrap_or_default();
        let mut repos: Vec<(String, String)> = Vec::new();
        for c in self.model.containers.values() {
            if c.service.as_ref().is_some_and(|s| services.contains(s)) {
                if let Some(t) = &c.tag {
                    out.push(t.clone());
                }
                repos.push((c.host.clone(), crate::ops::parse_image_ref(&c.image).0));
            }
        }
        for e in &self.history {
            if e.app.as_deref() == Some(app) {
                for key in ["version", "to"] {
                    if let Some(v) = e.params.get(key).and_then(|v| v.as_str()) {
                        out.push(v.to_string());
                    }
                }
            }
        }
        let mut on_hosts: Vec<String> = self
            .host_images
            .iter()
            .filter_map(|(h, image)| {
                let (repo, tag) = crate::ops::parse_image_ref(image);
                tag.filter(|_| repos.iter().any(|(rh, r)| rh == h && *r == repo))
            })
            .collect();
        on_hosts.sort();
        on_hosts.reverse();
        out.extend(on_hosts);
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|v| seen.insert(v.clone()));
        out
    }

    pub(super) fn complete_palette(&mut self) {
        let line = self.palette_text();
        let options = self.completions(&line);
        let prefix_len = if line.ends_with(' ') || line.is_empty() {
            0
        } else {
            line.split_whitespace().last().map(str::len).unwrap_or(0)
        };
        let Some(first) = options.first() else {
            self.palette_error = Some("no completion".into());
            return;
        };
        // Complete to the longest common prefix; a single option gets a trailing space.
        let common = options.iter().fold(first.clone(), |acc, o| {
            acc.chars()
                .zip(o.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let mut insert: String = common.chars().skip(prefix_len).collect();
        if options.len() == 1 {
            insert.push(' ');
        } else {
            self.palette_error = Some(
                options
                    .iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("  "),
            );
        }
        self.palette.insert_str(insert);
    }
}

pub(super) fn new_palette() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text("restart | start | stop | exec  TARGET   (Tab completes, Enter runs)");
    t
}
