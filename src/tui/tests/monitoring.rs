//! The health, resources and hosts panes.

use super::*;

#[test]
fn health_resources_and_hosts_panes() {
    use crate::ops::checks::CheckResult;
    use crate::ops::Probe;
    use crate::ops::StatsSample;
    let mut model = demo_model(&["alpha", "beta"]);
    let ids: Vec<(String, String)> = model.containers.keys().cloned().collect();
    for (n, (host, id)) in ids.iter().enumerate() {
        for k in 0..10u64 {
            model.apply(Update::Stats {
                host: host.clone(),
                id: id.clone(),
                sample: StatsSample {
                    cpu_percent: (k * (n as u64 + 1) % 7) as f64 * 3.0,
                    memory_bytes: (40 + k + n as u64) << 20,
                    memory_limit_bytes: 1 << 30,
                    net_rx_bytes: 1 << 20,
                    net_tx_bytes: 1 << 19,
                    block_read_bytes: 0,
                    block_write_bytes: 4096,
                },
            });
        }
    }
    for k in 0..10 {
        model.apply(Update::HostMetrics {
            host: "alpha".into(),
            metrics: Ok(crate::ops::metrics::HostMetrics {
                cpu_percent: Some(10.0 + k as f64 * 5.0),
                load1: 0.42,
                load5: 0.3,
                load15: 0.2,
                mem_total_bytes: 8 << 30,
                mem_available_bytes: 3 << 30,
                disk_total_bytes: 100 << 30,
                disk_used_bytes: 81 << 30,
            }),
        });
    }
    model.apply(Update::HostMetrics {
        host: "beta".into(),
        metrics: Err("beta: reading /proc failed: permission denied".into()),
    });
    let probe = |up: bool, ms: f64| Probe {
        url: "https://shop.example.com/health".into(),
        status: up.then_some(200),
        latency_ms: up.then_some(ms),
        body: None,
        error: (!up).then(|| "connect shop.example.com:443: connection refused".into()),
        cert_not_after: None,
        at: "2026-11-23T11:59:00.000Z".into(),
    };
    for (i, up) in [true, true, true, false, true].into_iter().enumerate() {
        model.apply(Update::Check(Box::new(CheckResult {
            name: "shop-public".into(),
            via: None,
            up,
            probe: probe(up, 20.0 + i as f64),
        })));
    }
    model.apply(Update::Check(Box::new(CheckResult {
        name: "shop-live".into(),
        via: Some("alpha".into()),
        up: false,
        probe: probe(false, 0.0),
    })));
    model.apply(Update::HostDown {
        host: "beta".into(),
        error: "ssh deploy@beta:22: connection timed out".into(),
        retry_in_secs: 8,
    });
    let mut app = app_with(model);
    app.pane = Pane::Health;
    assert_pane_snapshot!("health", text(&render(&app, &dark(), 110, 16)));
    app.pane = Pane::Resources;
    assert_pane_snapshot!("resources", text(&render(&app, &dark(), 120, 16)));
    app.pane = Pane::Hosts;
    assert_pane_snapshot!("hosts", text(&render(&app, &dark(), 110, 8)));
    // Empty states.
    let mut empty = app_with(Model::new(["alpha"]));
    for p in [Pane::Health, Pane::Resources, Pane::Hosts, Pane::Logs] {
        empty.pane = p;
        let t = text(&render(&empty, &dark(), 90, 8));
        assert!(!t.trim().is_empty(), "{p:?}");
        // Every pane survives tiny and odd sizes.
        for (w, h) in [(1, 1), (20, 4), (80, 24), (300, 100)] {
            render(&app, &dark(), w, h);
            render(&empty, &dark(), w, h);
        }
    }
}
