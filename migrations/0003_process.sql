-- The process that runs each action (boot id, pid, start time, machine id, as JSON), so an
-- entry whose process died without finishing it (kill -9, a crash, a reboot) is recognised
-- and closed as `interrupted` instead of staying `running` forever.
ALTER TABLE actions ADD COLUMN process TEXT;
