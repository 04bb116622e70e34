/** The first SQLite schema exactly as released (v1), frozen on purpose: the upgrade test starts from it. Kept apart from the better-sqlite3 harness so that the suites of other runtimes can use it. */
export const SQLITE_V1_DDL = `
  CREATE TABLE triturus_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT;
  CREATE TABLE triturus_accounts (scope TEXT PRIMARY KEY, schema INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID, STRICT;
  CREATE TABLE triturus_olm_sessions (
    scope TEXT NOT NULL, sender_key TEXT NOT NULL, session_id TEXT NOT NULL, last_used_at INTEGER NOT NULL,
    schema INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (scope, sender_key, session_id)) WITHOUT ROWID, STRICT;
  CREATE TABLE triturus_inbound_group_sessions (
    scope TEXT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, sender_key TEXT NOT NULL,
    schema INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (scope, room_id, session_id)) WITHOUT ROWID, STRICT;
  CREATE TABLE triturus_outbound_group_sessions (
    scope TEXT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, schema INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (scope, room_id)) WITHOUT ROWID, STRICT;
  CREATE TABLE triturus_replays (
    scope TEXT NOT NULL, session_id TEXT NOT NULL, message_index INTEGER NOT NULL, event_id TEXT NOT NULL,
    origin_server_ts INTEGER NOT NULL, PRIMARY KEY (scope, session_id, message_index)) WITHOUT ROWID, STRICT;
  CREATE TABLE triturus_mls_groups (
    scope TEXT NOT NULL, group_id TEXT NOT NULL, schema INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (scope, group_id)) WITHOUT ROWID, STRICT;
  CREATE TABLE triturus_values (
    scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key)) WITHOUT ROWID, STRICT;
  INSERT INTO triturus_schema (version, applied_at) VALUES (1, 0);
`;
