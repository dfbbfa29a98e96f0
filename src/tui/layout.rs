//! Screen geometry both the drawing and the input side need: the panes in Tab order, the
//! tab labels as they fit a width, and where the tabs and the table rows are. Pure functions of
//! their arguments, so `view` draws with them and `app` hit-tests mouse clicks with the same
//! numbers, without either importing the other.

/// The panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Containers,
    Logs,
    Health,
    Resources,
    Hosts,
    Databases,
    Backups,
    Routes,
    Doctor,
    Actions,
    History,
}

impl Pane {
    pub const ALL: [Pane; 11] = [
        Pane::Containers,
        Pane::Logs,
        Pane::Health,
        Pane::Resources,
        Pane::Hosts,
        Pane::Databases,
        Pane::Backups,
        Pane::Routes,
        Pane::Doctor,
        Pane::Actions,
        Pane::History,
    ];
    /// The key map section of the pane.
    pub fn section(self) -> &'static str {
        match self {
            Pane::Containers => "containers",
            Pane::Logs => "logs",
            Pane::Health => "health",
            Pane::Resources => "resources",
            Pane::Hosts => "hosts",
            Pane::Databases => "databases",
            Pane::Backups => "backups",
            Pane::Routes => "routes",
            Pane::Doctor => "doctor",
            Pane::Actions => "actions",
            Pane::History => "history",
        }
    }
    /// The tab label when the tabs do not fit.
    pub fn short_title(self) -> &'static str {
        match self {
            Pane::Containers => "Cont",
            Pane::Logs => "Logs",
            Pane::Health => "Hlth",
            Pane::Resources => "Res",
            Pane::Hosts => "Hosts",
            Pane::Databases => "DBs",
            Pane::Backups => "Bkps",
            Pane::Routes => "Rts",
            Pane::Doctor => "Doc",
            Pane::Actions => "Acts",
            Pane::History => "Hist",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Pane::Containers => "Containers",
            Pane::Logs => "Logs",
            Pane::Health => "Health",
            Pane::Resources => "Resources",
            Pane::Hosts => "Hosts",
            Pane::Databases => "Databases",
            Pane::Backups => "Backups",
            Pane::Routes => "Routes",
            Pane::Doctor => "Doctor",
            Pane::Actions => "Actions",
            Pane::History => "History",
        }
    }
}

/// The screen row of the pane tabs (the top border of the pane's block, under the hosts bar).
pub const TABS_ROW: u16 = 1;
/// The column of the first tab (after the block's corner).
pub const TABS_X: u16 = 1;
/// The screen row of the first table row of the containers pane (under the tabs and the
/// table header).
pub const FIRST_TABLE_ROW: u16 = 3;

/// Rows a pane's table shows at a terminal `height` (for paging and mouse clicks).
pub fn page_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(6)).max(1)
}

/// The tab labels in order (`None`: a `…` for left-out tabs), fitting `width` minus the
/// block's corners. The mouse maps clicks with the same layout.
pub fn tab_labels(current: Pane, extra: &str, width: u16) -> Vec<(Option<Pane>, String)> {
    let room = usize::from(width.saturating_sub(2));
    let label = |p: Pane, short: bool| {
        if p == current && !extra.is_empty() {
            format!(" {} {extra} ", p.title())
        } else if p == current || !short {
            format!(" {} ", p.title())
        } else {
            format!(" {} ", p.short_title())
        }
    };
    let full: Vec<(Option<Pane>, String)> = Pane::ALL
        .iter()
        .map(|p| (Some(*p), label(*p, false)))
        .collect();
    let len =
        |v: &[(Option<Pane>, String)]| v.iter().map(|(_, l)| l.chars().count()).sum::<usize>();
    if len(&full) <= room {
        return full;
    }
    let short: Vec<(Option<Pane>, String)> = Pane::ALL
        .iter()
        .map(|p| (Some(*p), label(*p, true)))
        .collect();
    if len(&short) <= room {
        return short;
    }
    // Keep a window around the current tab.
    let at = Pane::ALL.iter().position(|p| *p == current).unwrap_or(0);
    let (mut lo, mut hi) = (at, at + 1);
    loop {
        let mut grew = false;
        for side in [true, false] {
            let (nlo, nhi) = if side && hi < short.len() {
                (lo, hi + 1)
            } else if !side && lo > 0 {
                (lo - 1, hi)
            } else {
                continue;
            };
            let mut w = short[nlo..nhi].to_vec();
            if nlo > 0 {
                w.insert(0, (None, "…".into()));
            }
            if nhi < short.len() {
                w.push((None, "…".into()));
            }
            if len(&w) <= room {
                lo = nlo;
                hi = nhi;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let mut w = short[lo..hi].to_vec();
    if lo > 0 {
        w.insert(0, (None, "…".into()));
    }
    if hi < short.len() {
        w.push((None, "…".into()));
    }
    w
}

/// The pane whose tab is at `column` of the tabs row, as [`tab_labels`] lays them out (extra
/// text of the current tab aside: clicks on it select it anyway).
pub fn tab_at(current: Pane, width: u16, column: u16) -> Option<Pane> {
    let mut x = TABS_X;
    for (p, label) in tab_labels(current, "", width) {
        let w = label.chars().count() as u16;
        if let Some(p) = p.filter(|_| column >= x && column < x + w) {
            return Some(p);
        }
        x += w;
    }
    None
}
