-- What `opsdeck watch` remembers between rounds and between runs (`watch --once` from cron):
-- each subject's consecutive failures/successes and whether it is alerting; check results
-- folded per minute (uptime and latency history, bounded by [watch] keep_days); when each
-- scheduled job last ran.
CREATE TABLE watch_state (
    subject TEXT PRIMARY KEY,
    failing INTEGER NOT NULL,
    passing INTEGER NOT NULL,
    alerting INTEGER NOT NULL,
    since TEXT,
    message TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE check_minutes (
    check_name TEXT NOT NULL,
    minute INTEGER NOT NULL,
    up INTEGER NOT NULL,
    down INTEGER NOT NULL,
    latency_sum REAL NOT NULL,
    latency_count INTEGER NOT NULL,
    latency_max REAL,
    PRIMARY KEY (check_name, minute)
);
CREATE TABLE schedule_runs (
    job TEXT PRIMARY KEY,
    last_run INTEGER NOT NULL
);
