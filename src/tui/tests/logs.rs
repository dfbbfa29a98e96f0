//! The logs pane: merged sources, filter, search, pause, wrap, save; bounded memory.

use super::*;

fn log_record(
    src: &std::sync::Arc<crate::ops::logs::LogSource>,
    sec: u32,
    text: &str,
) -> crate::ops::logs::LogRecord {
    let mut asm = crate::ops::logs::LineAssembler::new(8 * 1024);
    let mut out = Vec::new();
    let raw = format!("2026-11-23T11:59:{sec:02}.000Z {text}\n");
    asm.push(
        crate::ops::logs::LogStream::Stdout,
        raw.as_bytes(),
        &mut out,
    );
    crate::ops::logs::LogRecord {
        source: src.clone(),
        line: out.remove(0),
    }
}

#[test]
fn logs_pane_merges_filters_searches_and_caps() {
    use crate::ops::logs::{LogEvent, LogSource};
    let mut app = app_with(demo_model(&["alpha"]));
    app.logs = crate::tui::app::LogsView::new(50);
    app.open_logs(vec!["shop".into()], "project shop on alpha".into());
    let generation = app.logs.generation;
    assert!(
        matches!(app.effects.last(), Some(Effect::OpenLogs { targets, .. }) if targets == &["shop"])
    );
    let a = std::sync::Arc::new(LogSource {
        host: "alpha".into(),
        id: "a".into(),
        container: "shop_platform-a_1".into(),
        service: Some("platform-a".into()),
    });
    let b = std::sync::Arc::new(LogSource {
        host: "alpha".into(),
        id: "b".into(),
        container: "shop_platform-b_1".into(),
        service: Some("platform-b".into()),
    });
    let huge = "x".repeat(90_000);
    app.log_event(
        generation,
        LogEvent::Lines(vec![
            log_record(&a, 1, "GET /health 200 1ms"),
            log_record(&b, 2, "level=warn msg=\"slow query\" ms=812"),
            log_record(
                &a,
                3,
                r#"{"level":"error","msg":"payment failed","order":42}"#,
            ),
            log_record(&b, 4, &huge),
            log_record(&a, 5, "GET /health 200 2ms"),
        ]),
    );
    // A late batch from an older reader is ignored.
    app.log_event(
        generation - 1,
        LogEvent::Lines(vec![log_record(&a, 6, "stale")]),
    );
    assert_eq!(app.logs.buf.len(), 5);
    assert!(
        app.logs
            .buf
            .all()
            .iter()
            .all(|(_, l)| l.text.len() <= 8 * 1024),
        "lines are capped"
    );
    assert_pane_snapshot!("logs_merged", text(&render(&app, &dark(), 100, 10)));

    // Regex filter.
    app.run(KeyCommand::Filter);
    for c in "health".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.logs.buf.len(), 2);
    // A bad regex is reported, the old filter stays.
    app.run(KeyCommand::Filter);
    app.on_event(&key(KeyCode::Char('('), KeyModifiers::NONE));
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert!(app
        .logs
        .input_error
        .as_deref()
        .is_some_and(|e| e.contains("regular expression")));
    app.on_event(&key(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.logs.buf.len(), 2);
    app.run(KeyCommand::Filter);
    app.logs.text = tui_textarea::TextArea::default();
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.logs.buf.len(), 5);

    // Search highlights and jumps; scrolling back pauses; new lines keep the view still.
    app.run(KeyCommand::Search);
    for c in "payment".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert!(app.logs.paused);
    assert_eq!(app.logs.scroll, 2);
    let b_ = render(&app, &dark(), 100, 10);
    let (x, y) = find(&b_, "payment").expect("match shown");
    assert_eq!(
        b_[(x, y)].bg,
        dark().selected().bg.unwrap_or(ratatui::style::Color::Reset),
        "match highlighted"
    );
    app.log_event(
        generation,
        LogEvent::Lines(vec![log_record(&a, 7, "newer")]),
    );
    assert_eq!(
        app.logs.scroll, 3,
        "the view stays on the same lines while paused"
    );
    app.run(KeyCommand::Bottom);
    assert!(!app.logs.paused && app.logs.scroll == 0);
    app.run(KeyCommand::Timestamps);
    app.run(KeyCommand::Wrap);
    assert_pane_snapshot!(
        "logs_wrapped_timestamps",
        text(&render(&app, &dark(), 80, 12))
    );
    // Save: the filtered view, masked, as an effect the loop writes.
    app.run(KeyCommand::Save);
    assert!(matches!(app.effects.last(), Some(Effect::SaveLogs { lines, .. }) if lines.len() == 6));
}

#[test]
fn logs_pane_memory_stays_bounded_under_a_flood() {
    use crate::ops::logs::{LogEvent, LogSource};
    let mut app = app_with(demo_model(&["alpha"]));
    app.logs = crate::tui::app::LogsView::new(1_000);
    app.open_logs(vec!["alpha/x".into()], "alpha/x".into());
    let g = app.logs.generation;
    let src = std::sync::Arc::new(LogSource {
        host: "alpha".into(),
        id: "x".into(),
        container: "x".into(),
        service: None,
    });
    for batch in 0..100 {
        let recs = (0..1_000)
            .map(|i| log_record(&src, (i % 60) as u32, &format!("line {batch}-{i}")))
            .collect();
        app.log_event(g, LogEvent::Lines(recs));
    }
    assert_eq!(app.logs.buf.held(), 1_000);
    assert_eq!(app.logs.buf.received, 100_000);
    assert_eq!(app.logs.buf.window(1, 0)[0].1.text, "line 99-999");
}
