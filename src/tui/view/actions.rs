//! The actions pane: the runs of this session, the selected one's steps and output.

use super::widgets::{block, empty_pane, outcome_style};
use crate::tui::app::App;
use crate::tui::runs::StepState;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let block = block(app, theme, format!("({})", app.runs.len()), area.width);
    if app.runs.is_empty() {
        empty_pane(
            f,
            area,
            block,
            "No actions yet. Press : for the palette, or ctrl-r on a container to restart it.",
            theme,
        );
        return;
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [list, detail] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Min(20)]).areas(inner);
    let lines: Vec<Line> = app
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let state = match r.progress.outcome {
                None if r.plan.is_none() => "planning".to_string(),
                None => "running".to_string(),
                Some(o) => o.as_str().to_string(),
            };
            let mut l = Line::from(vec![
                Span::styled(
                    format!("{state:<10}"),
                    outcome_style(theme, r.progress.outcome),
                ),
                Span::raw(r.title.clone()),
            ]);
            if i == app.run_selected {
                l = l.style(theme.selected());
            }
            l
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
    let Some(run) = app.runs.get(app.run_selected) else {
        return;
    };
    let mut lines = vec![Line::from(Span::styled(run.title.clone(), theme.header()))];
    for (i, s) in run.progress.steps.iter().enumerate() {
        let (mark, style, extra) = match &s.state {
            StepState::Pending => ("·", theme.muted(), String::new()),
            StepState::Running => ("▶", theme.info(), String::new()),
            StepState::Done { elapsed_ms } => ("✓", theme.ok(), format!(" ({elapsed_ms} ms)")),
            StepState::Failed { error } => ("✗", theme.danger(), format!(": {error}")),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} {}. ", i + 1), style),
            Span::raw(s.name.clone()),
            Span::styled(extra, style),
        ]));
    }
    if let Some(e) = &run.progress.error {
        lines.push(Line::from(Span::styled(e.clone(), theme.danger())));
    }
    if let Some(id) = run.progress.journal_id {
        lines.push(Line::from(Span::styled(
            format!("journal entry #{id}"),
            theme.muted(),
        )));
    }
    if let (Some(p), true) = (&run.rate, run.is_running()) {
        lines.push(Line::from(Span::styled(
            format!("  {}", p.describe()),
            theme.info(),
        )));
    }
    if let Some(secret) = &run.secret {
        lines.push(Line::from(vec![
            Span::styled("shown once, copy it now: ", theme.warn()),
            Span::raw(secret.clone()),
        ]));
    }
    let room = usize::from(detail.height).saturating_sub(lines.len() + 1);
    let skip = run.output.len().saturating_sub(room);
    lines.extend(
        run.output
            .iter()
            .skip(skip)
            .map(|l| Line::from(Span::styled(format!("  | {l}"), theme.muted()))),
    );
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), detail);
}
