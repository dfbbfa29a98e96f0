//! The doctor pane: the apps, and the selected one's checklist with hints.

use super::widgets::{block, key_hint};
use crate::ops::doctor::Verdict;
use crate::tui::app::{App, DoctorState};
use crate::tui::keymap::KeyCommand;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

fn verdict_style(theme: &Theme, v: Verdict) -> Style {
    match v {
        Verdict::Pass => theme.ok(),
        Verdict::Fail => theme.danger(),
        Verdict::Skip => theme.muted(),
    }
}

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let block = block(app, theme, String::new(), area.width).title_bottom(Span::styled(
        format!(
            "{} run the checklist for the selected app ",
            key_hint(app, KeyCommand::Doctor, "")
                .trim_end_matches(" ·")
                .trim_end()
        ),
        theme.muted(),
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.apps.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "No apps in the inventory: add [apps.NAME] with host, services and domains.",
                theme.muted(),
            )),
            inner,
        );
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Length(26), Constraint::Min(20)]).areas(inner);
    let items: Vec<ListItem> = app
        .apps
        .keys()
        .map(|a| {
            let (mark, style) = match app.doctor.get(a) {
                None => ("  ", theme.muted()),
                Some(DoctorState::Running) => ("… ", theme.info()),
                Some(DoctorState::Done(Ok(r))) if r.ok => ("✓ ", theme.ok()),
                Some(DoctorState::Done(_)) => ("✗ ", theme.danger()),
            };
            ListItem::new(Line::from(vec![
                Span::styled(mark, style),
                Span::raw(a.clone()),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(app.doctor_selected));
    f.render_stateful_widget(
        List::new(items)
            .block(
                Block::default()
                    .borders(Borders::RIGHT)
                    .border_style(theme.border()),
            )
            .highlight_style(theme.selected()),
        left,
        &mut state,
    );
    let Some(name) = app.apps.keys().nth(app.doctor_selected) else {
        return;
    };
    let right = Rect {
        x: right.x + 1,
        width: right.width.saturating_sub(1),
        ..right
    };
    let lines: Vec<Line> = match app.doctor.get(name) {
        None => vec![Line::from(Span::styled(
            format!("Not run yet for {name}: press enter to run the checklist."),
            theme.muted(),
        ))],
        Some(DoctorState::Running) => vec![Line::from(Span::styled(
            format!("Running the checklist for {name}…"),
            theme.info(),
        ))],
        Some(DoctorState::Done(Err(e))) => {
            vec![Line::from(Span::styled(e.to_string(), theme.danger()))]
        }
        Some(DoctorState::Done(Ok(r))) => {
            let mut l = vec![Line::from(vec![
                Span::styled(format!("doctor {} on {}  ", r.app, r.host), theme.title()),
                if r.ok {
                    Span::styled("all checks passed", theme.ok())
                } else {
                    Span::styled("some checks FAILED", theme.danger())
                },
            ])];
            for (i, s) in r.steps.iter().enumerate() {
                l.push(Line::from(vec![
                    Span::raw(format!("{:>2}. ", i + 1)),
                    Span::styled(
                        format!("[{:<4}] ", s.verdict.as_str()),
                        verdict_style(theme, s.verdict),
                    ),
                    Span::raw(s.name.clone()),
                ]));
                for d in &s.detail {
                    l.push(Line::from(Span::styled(
                        format!("           {d}"),
                        theme.muted(),
                    )));
                }
                if let (Verdict::Fail, Some(h)) = (s.verdict, &s.hint) {
                    l.push(Line::from(Span::styled(
                        format!("           hint: {h}"),
                        theme.warn(),
                    )));
                }
            }
            l
        }
    };
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), right);
}
