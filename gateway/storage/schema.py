"""Table definitions (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Migrations create these tables; repositories query them. Times are stored as UTC epoch seconds
(float) so that interval arithmetic for uptime is cheap and identical on both backends.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", Float, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    # scrypt hash for signing in to the web pages; NULL: this user has API tokens only.
    Column("password_hash", String(200), nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # sha256 of the whole token; the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

gateway_runs = Table(
    "gateway_runs",
    metadata,
    # Each start of a gateway process is a run. Time outside every run is "unknown" for uptime: the
    # gateway was not watching, which is not the same as the camera being down.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(100), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
    # The policy this run judged cameras against (HD threshold, min fps, quality checks), so that a
    # report can say when the judgement it reads was made under another policy.
    Column("policy", JSON, nullable=True),
)

camera_state_changes = Table(
    "camera_state_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("gateway_runs.id"), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_camera_state_changes_camera_ts", "camera_id", "ts"),
    # Stable codes behind a degraded state ("below_hd", "low_fps", "slow_delivery", "quality:frozen"): what coverage
    # reports count incidents by, while `reason` stays free text for people.
    Column("faults", JSON, nullable=True),
)

camera_days = Table(
    "camera_days",
    metadata,
    # A camera's roll-up of one closed day of the site's time zone (gateway/health/rollup.py): time per
    # state and per fault, the day's outages, incidents and intervals, its last measured stream, all
    # computed by the code that reads the raw history, so that long reports read one row per camera
    # and day. A derived cache: a late state change deletes the days it touches, pruning the days it
    # prunes; missing days are computed again when a report asks.
    Column("camera_id", String(64), primary_key=True),
    Column("start", Float, primary_key=True),  # the day's local midnight, UTC epoch seconds
    Column("end", Float, nullable=False),  # the next midnight (23 or 25 hours later across DST)
    Column("day", String(10), nullable=False),  # YYYY-MM-DD, for people reading the table
    Column("version", Integer, nullable=False),  # of the data's format: another one is computed again
    Column("built_at", Float, nullable=False),
    # The day's intervals not online (start, end, state, reason, faults), what reports read: online time
    # is what they leave, and outages, incidents and zone gaps are made of them. Compact JSON decoded
    # only by rollup.py, as text: SQLAlchemy's JSON type would decode every row through its processors.
    Column("holes", Text, nullable=False),
    # For people and other programs: time per state and fault, outages, the day's last sample (JSON).
    Column("summary", Text, nullable=False),
)

camera_samples = Table(
    "camera_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("gateway_runs.id"), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("state", String(20), nullable=False),
    Column("codec", String(10), nullable=True),
    Column("profile", String(40), nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("fps", Float, nullable=True),
    Column("bitrate_kbps", Float, nullable=True),
    Column("gop_frames", Integer, nullable=True),
    Column("keyframe_interval_s", Float, nullable=True),
    Column("packets", Integer, nullable=False, default=0),
    Column("bytes", Integer, nullable=False, default=0),
    Column("ts_jumps", Integer, nullable=False, default=0),
    Column("gaps", Integer, nullable=False, default=0),
    Column("reconnects", Integer, nullable=False, default=0),
    Index("ix_camera_samples_camera_ts", "camera_id", "ts"),
)

camera_inventory = Table(
    "camera_inventory",
    metadata,
    # What a camera says about itself over ONVIF, each time it is asked (at start and periodically).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("manufacturer", String(100), nullable=True),
    Column("model", String(100), nullable=True),
    Column("firmware", String(100), nullable=True),
    Column("serial", String(100), nullable=True),
    Column("clock_offset_s", Float, nullable=True),
    Column("ntp", Boolean, nullable=True),
    Column("main_profile", JSON, nullable=True),
    Column("profiles", JSON, nullable=True),
    # None: the device offers no recording search, so retention is "not verifiable".
    Column("recordings_earliest", Float, nullable=True),
    Column("recordings_latest", Float, nullable=True),
    Column("recording_search", Boolean, nullable=True),
    Index("ix_camera_inventory_camera_ts", "camera_id", "ts"),
)

device_events = Table(
    "device_events",
    metadata,
    # Events a camera reports itself over ONVIF (motion, tamper, people...), as opposed to our own
    # detections.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(20), nullable=False),  # adapters.onvif.EventKind: the longest, line_crossing, is 13
    Column("topic", String(200), nullable=False),
    Column("operation", String(20), nullable=True),
    Column("data", JSON, nullable=True),
    Index("ix_device_events_camera_ts", "camera_id", "ts"),
)

camera_quality = Table(
    "camera_quality",
    metadata,
    # One row per check per sampled keyframe: the history picture-quality incidents are read from.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("gateway_runs.id"), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("check", String(30), nullable=False),
    Column("state", String(20), nullable=False),
    Column("score", Float, nullable=True),  # NULL when the check could not run
    Column("detail", Text, nullable=True),
    Index("ix_camera_quality_camera_ts", "camera_id", "ts"),
)

quality_references = Table(
    "quality_references",
    metadata,
    # The picture each camera should see (small grey image), for the "camera moved" check. Kept across
    # restarts: a camera knocked aside while the gateway was down must still read as moved.
    Column("camera_id", String(64), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("image", LargeBinary, nullable=False),
)

events = Table(
    "events",
    metadata,
    # Our own detections (analytics rules firing), as opposed to device_events that cameras report.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("zone_id", String(64), nullable=True),
    Column("ts", Float, nullable=False),
    Column("track_ids", JSON, nullable=False),
    # [[x1, y1, x2, y2, score, track_id], ...] in pixels of a frame_width x frame_height picture.
    Column("boxes", JSON, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("message", Text, nullable=False),
    Column("frame_width", Integer, nullable=False),
    Column("frame_height", Integer, nullable=False),
    Column("has_snapshot", Boolean, nullable=False),
    Index("ix_events_camera_ts", "camera_id", "ts"),
    Index("ix_events_ts", "ts"),
)

event_snapshots = Table(
    "event_snapshots",
    metadata,
    # Apart from `events` so that listing and counting events never read image bytes.
    Column("event_id", Integer, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("image", LargeBinary, nullable=False),
)

uplink_intervals = Table(
    "uplink_intervals",
    metadata,
    # Stretches a GB/T 28181 uplink was registered to its platform. An open row (ended_at NULL) is a
    # registration still held, or one a crash left open until the next start closes it.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uplink_id", String(64), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("end_reason", Text, nullable=True),
    Index("ix_uplink_intervals_uplink_start", "uplink_id", "started_at"),
)

uplink_sessions = Table(
    "uplink_sessions",
    metadata,
    # One row per live video session a platform opened (INVITE) on a camera, for the coverage report.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uplink_id", String(64), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("channel_id", String(32), nullable=False),
    Column("call_id", String(255), nullable=False),
    Column("transport", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("bytes_sent", Integer, nullable=True),
    Column("end_reason", Text, nullable=True),
    Index("ix_uplink_sessions_camera_start", "camera_id", "started_at"),
)

grants = Table(
    "grants",
    metadata,
    # What a police or operator user may see: one camera, every camera of a zone, or all cameras.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("target", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(100), nullable=False),
    UniqueConstraint("user_id", "kind", "target", name="uq_grants_user_kind_target"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # Signed-in browsers. Only the token's sha256 is stored, as for API tokens.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf", String(64), nullable=False),
    Column("source", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Append-only. Each row's hash covers its fields and the previous row's hash, so an edited,
    # removed or reordered row breaks the chain from there on (`gateway audit verify`).
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("source", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_ts", "ts"),
)

outbox_messages = Table(
    "outbox_messages",
    metadata,
    # Every message bound for an MQTT broker, webhook or view library is written here before it is
    # sent. `id` orders delivery; `msg_id` is what receivers deduplicate on, stable across resends.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("msg_id", String(80), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("camera_id", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    # Telemetry that is worthless once stale (health figures) expires instead of queueing for hours.
    Column("expires_at", Float, nullable=True),
    # Detection events: the stored event, whose snapshot is read at delivery (no foreign key: events
    # are pruned on their own schedule, and a message may outlive its picture).
    Column("event_id", Integer, nullable=True),
    Column("payload", Text, nullable=False),
    Index("ix_outbox_messages_created", "created_at"),
    # The gateway process that sends it, when several share one database (instance.id); NULL: written
    # before migration 11, adopted by the first instance that starts.
    Column("instance", String(100), nullable=True),
    Index("ix_outbox_messages_instance", "instance", "id"),
)

outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    # One row per message and destination while it is undelivered: the backlog is the row count.
    Column("destination", String(80), primary_key=True),
    Column("message_id", Integer, ForeignKey("outbox_messages.id", ondelete="CASCADE"), primary_key=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_deliveries_message", "message_id"),
)

outbox_counters = Table(
    "outbox_counters",
    metadata,
    # Per destination, kept across restarts: what was delivered, refused, expired or lost, by every
    # instance that shares the database (the site's figure for that destination).
    Column("destination", String(80), primary_key=True),
    Column("delivered", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("expired", Integer, nullable=False, default=0),
    Column("dropped", Integer, nullable=False, default=0),
    Column("last_delivered_at", Float, nullable=True),
    Column("last_dropped_at", Float, nullable=True),
)

outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    # How far the outbox has read a source table (detection events), moved in the same transaction
    # as the messages it wrote, so a crash can neither skip nor repeat a source row. One per instance
    # ("events:<instance id>"), each reading the events of its own cameras.
    Column("name", String(40), primary_key=True),
    Column("position", Integer, nullable=False),
)

recording_days = Table(
    "recording_days",
    metadata,
    # The recording audit's finding for one camera and one day (in the site's time zone): the gaps
    # in the audited part [start, end) of the day (today: up to the last check). Rewritten by each
    # check of that day, so the row is the latest answer of the recording device.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("gaps", JSON, nullable=False),  # [[start, end], ...] epoch seconds; the rest is recorded
    Column("checked_at", Float, nullable=False),
    UniqueConstraint("camera_id", "day", name="uq_recording_days_camera_day"),
)

recording_checks = Table(
    "recording_checks",
    metadata,
    # Each search of a camera's recordings: where, what came back (the oldest and newest recorded
    # instants, for retention), or why it failed; the SOAP requests it cost the shared device.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("source", String(200), nullable=False),
    Column("recording_token", String(200), nullable=True),
    Column("earliest", Float, nullable=True),
    Column("latest", Float, nullable=True),
    Column("queries", Integer, nullable=False),
    Index("ix_recording_checks_camera_ts", "camera_id", "ts"),
)

uplink_catalog = Table(
    "uplink_catalog",
    metadata,
    # The channels a GB/T 28181 uplink last told its platform about, as the config described them
    # (name, address, owner...): at the next start the difference is told as catalog ADD, DEL and
    # UPDATE events. Rewritten once a platform's catalog subscription has taken the difference.
    Column("uplink_id", String(64), primary_key=True),
    Column("channel_id", String(20), primary_key=True),
    Column("item", JSON, nullable=False),
    Column("told_at", Float, nullable=False),
)

gat1400_subscriptions = Table(
    "gat1400_subscriptions",
    metadata,
    # The subscriptions GA/T 1400 platforms hold at this gateway (uplinks.gat1400_subscribers), kept
    # across restarts. `id` names the subscription's outbox destination ("<uplink>:<id>"), whose backlog
    # and counters live in the outbox tables. Ended ones (cancelled, expired) are kept a week for the
    # status, then removed with their counters.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(100), nullable=False),
    Column("uplink_id", String(64), nullable=False),
    Column("subscribe_id", String(64), nullable=False),
    Column("platform", String(64), nullable=True),  # User-Identify of the request that made or changed it
    # 0-63, unique among an uplink's active subscriptions: part of each NotificationID's sequence.
    Column("slot", Integer, nullable=False),
    Column("status", Integer, nullable=False),  # SubscribeStatus: 0 active, 1 cancelled, 2 expired
    # The SubscribeObject as this side answers it; its times are wall clock in the site's time zone.
    Column("subscribe", JSON, nullable=False),
    Column("begin_at", Float, nullable=True),
    Column("end_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("end_reason", Text, nullable=True),
    Column("sent", Integer, nullable=False, default=0),  # notifications the platform confirmed
    Column("failed", Integer, nullable=False, default=0),  # POSTs of notifications that failed
    Column("dropped", Integer, nullable=False, default=0),  # pending notifications dropped when it ended
    UniqueConstraint("instance", "uplink_id", "subscribe_id", name="uq_gat1400_subscriptions"),
)

tickets = Table(
    "tickets",
    metadata,
    # A hidden danger: a camera fault that lasted past its grace time (gateway/tickets/). Opened, told,
    # acknowledged by a person, closed by itself once the camera is healthy again; a fault back soon
    # after reopens the same row, so a flapping camera is one ticket.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), nullable=False),
    Column("zone_id", String(64), nullable=True),
    Column("zone_kind", String(20), nullable=True),
    Column("fault", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Column("since", Float, nullable=False),  # when the fault began
    Column("opened_at", Float, nullable=False),
    Column("episode_at", Float, nullable=False),  # when the current episode opened: opened_at, or its reopening
    Column("acknowledged_at", Float, nullable=True),
    Column("acknowledged_by", String(100), nullable=True),
    Column("note", Text, nullable=True),
    Column("level", Integer, nullable=False),  # escalation level: the contact list last told
    Column("told_at", Float, nullable=False),  # when that list was told
    Column("closed_at", Float, nullable=True),
    Column("reopened", Integer, nullable=False),
    Index("ix_tickets_camera_opened", "camera_id", "opened_at"),
    Index("ix_tickets_closed", "closed_at"),
)
