//! The mouse: wheel, clicks on rows and on the pane tabs.

use super::*;

#[test]
fn the_mouse_scrolls_selects_and_switches_panes() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = app_with(demo_model(&["alpha"]));
    let mouse = |kind, column, row| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.on_event(&mouse(MouseEventKind::ScrollDown, 10, 5));
    assert_eq!(app.selected, 1);
    // Row 3 is the first group heading, row 4 the first container, row 5 the second.
    app.on_event(&mouse(MouseEventKind::Down(MouseButton::Left), 10, 5));
    assert_eq!(
        app.selected_container().map(|c| c.name.as_str()),
        Some("infra_redis_1")
    );
    app.on_event(&mouse(MouseEventKind::Down(MouseButton::Left), 3, 1));
    assert_eq!(app.pane, Pane::Containers);
    let logs_x = 1 + "Containers".len() as u16 + 2 + 1;
    app.on_event(&mouse(MouseEventKind::Down(MouseButton::Left), logs_x, 1));
    assert_eq!(app.pane, Pane::Logs);
}
