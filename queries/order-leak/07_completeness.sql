-- id: completeness
-- title_en: Completeness of the logs
-- title_zh: 日志完整性
-- question: Does every source the checks rely on cover the whole window (padded by the measured clock skew) without
--   a silence longer than the source's normal silence at that local time of day on the baseline days, without
--   sequence-number jumps on any node, without missing heartbeats, and with hourly volume within its baseline? Each
--   row is one defect. (Which evidence shows each source continuous - heartbeats, sequence numbers or volume - is
--   reported beside the verdict.)
-- legal_element: Weight of a negative finding: a record's absence proves nothing unless the records are complete
--   (SPC Evidence Provisions arts. 14-15, 93-94; Online Litigation Rules of the People's Courts; compare US FRE
--   803(7))
-- question_zh: 各项检查所依赖的每个来源，其日志是否覆盖整个时间窗（已按实测时钟偏差扩展），且没有超过基线日同一本地时段正常静默时长的静默、任何节点均无序号跳变、无心跳缺失、每小时事件量在基线范围内？每一行为一项缺陷。（每个来源以何种证据证明其连续——心跳、序号或事件量——在结论旁列明。）
-- legal_element_zh: 否定性结论的证明力：只有记录完整，记录的缺失才能证明事件未发生（《最高人民法院关于民事诉讼证据的若干规定》第十四条、第十五条、第九十三条、第九十四条；《人民法院在线诉讼规则》）
-- expect: none
-- severity: high
-- depends_on.roles: back_office, open_api, logistics_print, security_monitor
-- depends_on.actions: system.heartbeat
-- principals: not applicable (every node of every source)
-- rows: derived
WITH scope AS (
    -- The window plus a baseline on both sides: what is "normal" for a source is learnt from around the window.
    SELECT source, coalesce(node, '') AS node, ts, seq, action
    FROM events
    WHERE date BETWEEN CAST($padded_start - to_days($baseline_days) AS DATE)
                   AND CAST($padded_end + to_days($baseline_days) AS DATE)
      AND ts >= $padded_start - to_days($baseline_days)
      AND ts < $padded_end + to_days($baseline_days)
),
bounds AS (
    -- Coverage counts every event (for the heartbeat source its heartbeats are its coverage).
    SELECT source, min(ts) AS first_ts, max(ts) AS last_ts,
           count(*) FILTER (WHERE ts >= $padded_start AND ts < $padded_end) AS events,
           count(*) FILTER (WHERE ts < $padded_start OR ts >= $padded_end) AS baseline_events,
           count(seq) FILTER (WHERE ts >= $padded_start AND ts < $padded_end) AS seq_events,
           list(DISTINCT node ORDER BY node) FILTER (WHERE node <> '') AS nodes
    FROM scope GROUP BY source
),
minutes AS (
    -- One row per node and active minute: silences are measured from the last event of one active minute to
    -- the first of the next, which is exact for every silence longer than a minute and keeps the cost linear.
    -- Heartbeats say a node is alive, not that its application logged; they are judged separately.
    SELECT source, node, date_trunc('minute', ts) AS minute, count(*) AS events, min(ts) AS first_ts,
           max(ts) AS last_ts
    FROM scope
    WHERE NOT (list_contains($heartbeat_sources, source) AND action = $heartbeat_action)
    GROUP BY ALL
),
node_marks AS (
    -- Every node's silence is measured from the source's first to its last event, so a node that stopped
    -- (or started) inside the window shows a gap too.
    SELECT source, node, first_ts, last_ts FROM minutes
    UNION ALL
    SELECT n.source, n.node, b.first_ts, b.first_ts FROM (SELECT DISTINCT source, node FROM minutes) AS n
    JOIN bounds AS b USING (source)
    UNION ALL
    SELECT n.source, n.node, b.last_ts, b.last_ts FROM (SELECT DISTINCT source, node FROM minutes) AS n
    JOIN bounds AS b USING (source)
),
silences AS (
    SELECT source, node, last_ts AS gap_start,
           lead(first_ts) OVER (PARTITION BY source, node ORDER BY first_ts, last_ts) AS gap_end
    FROM node_marks
),
measured AS (
    -- Local times (the case's zone): a daily quiet period happens at the same local hour every day.
    SELECT *, epoch(gap_end - gap_start) AS seconds, timezone($tz, gap_start) AS local_start,
           timezone($tz, gap_end) AS local_end,
           -- Normal is learnt outside the window, so an outage inside it cannot make itself look normal.
           gap_end <= $padded_start OR gap_start >= $padded_end AS in_baseline
    FROM silences
    WHERE gap_end IS NOT NULL AND gap_end > gap_start
),
normal_by_hour AS (
    -- Per local hour of day: the longest silence the baseline days show at that time of day (a silence counts for
    -- every hour it spans, so a dawn pause from 07:50 to 08:39 makes 07:00 and 08:00 quiet hours). A night, a
    -- lunch break or a nightly rotation is normal where it happens every day, and nowhere else.
    SELECT source, hour_of_day, max(seconds) AS longest, $gap_factor * max(seconds) AS threshold
    FROM (
        SELECT m.source, m.seconds, extract('hour' FROM x) AS hour_of_day
        FROM measured AS m,
             LATERAL (SELECT unnest(range(date_trunc('hour', m.local_start), m.local_end, INTERVAL 1 HOUR))) AS t(x)
        WHERE m.in_baseline
    )
    GROUP BY ALL
),
normal AS (
    -- Per source, for sources or hours without a baseline (a dump that is only the window falls back to it).
    SELECT source,
           greatest($gap_factor * coalesce(quantile_cont(seconds, 0.999) FILTER (WHERE in_baseline),
                                           quantile_cont(seconds, 0.999)), $min_gap) AS threshold
    FROM measured GROUP BY source
),
gap_candidates AS (
    SELECT * FROM measured
    WHERE gap_end > $padded_start AND gap_start < $padded_end AND seconds > $min_gap
),
gap_thresholds AS (
    -- A silence is judged against the most lenient local hour it spans (a quiet night after a busy evening is
    -- normal); an hour the baseline days never show falls back to the source-wide threshold.
    SELECT c.source, c.node, c.gap_start, c.gap_end, c.seconds, c.local_start,
           greatest(max(coalesce(h.threshold, n.threshold)), $min_gap) AS threshold,
           max(h.longest) AS longest, count(h.longest) = count(*) AS every_hour_known
    FROM gap_candidates AS c
    JOIN normal AS n USING (source)
    CROSS JOIN LATERAL (
        SELECT extract('hour' FROM x) AS hour_of_day
        FROM unnest(range(date_trunc('hour', c.local_start), c.local_end, INTERVAL 1 HOUR)) AS t(x)
    ) AS spanned
    LEFT JOIN normal_by_hour AS h ON h.source = c.source AND h.hour_of_day = spanned.hour_of_day
    GROUP BY c.source, c.node, c.gap_start, c.gap_end, c.seconds, c.local_start
),
gaps AS (
    SELECT
        source, node, 'gap' AS kind, gap_start AS start, gap_end AS "end", seconds,
        CAST(NULL AS BIGINT) AS missing, CAST(NULL AS BIGINT) AS after_seq, CAST(NULL AS BIGINT) AS next_seq,
        CASE WHEN every_hour_known
             THEN format('no event for {:.0f} s from {} local; at this time of day the baseline days had silences '
                         || 'up to {:.0f} s (gap threshold {:.0f} s)',
                         seconds, strftime(local_start, '%H:%M'), longest, threshold)
             ELSE format('no event for {:.0f} s (normal gap threshold {:.0f} s)', seconds, threshold)
        END AS detail
    FROM gap_thresholds
    WHERE seconds > threshold
),
coverage AS (
    SELECT
        e.source, '' AS node, 'no_events' AS kind, $padded_start AS start, $padded_end AS "end",
        epoch($padded_end - $padded_start) AS seconds, CAST(NULL AS BIGINT) AS missing,
        CAST(NULL AS BIGINT) AS after_seq, CAST(NULL AS BIGINT) AS next_seq,
        'no event of this source in the window or its baseline' AS detail
    FROM (SELECT unnest($expected_sources) AS source) AS e
    WHERE e.source NOT IN (SELECT source FROM bounds)
    UNION ALL
    SELECT
        b.source, '', 'coverage_start', $padded_start, b.first_ts, epoch(b.first_ts - $padded_start), NULL, NULL, NULL,
        'the source starts after the window starts'
    FROM bounds AS b JOIN normal AS n USING (source)
    WHERE epoch(b.first_ts - $padded_start) > n.threshold
    UNION ALL
    SELECT
        b.source, '', 'coverage_end', b.last_ts, $padded_end, epoch($padded_end - b.last_ts), NULL, NULL, NULL,
        'the source ends before the window ends'
    FROM bounds AS b JOIN normal AS n USING (source)
    WHERE epoch($padded_end - b.last_ts) > n.threshold
),
beats AS (
    SELECT source, node, ts FROM scope
    WHERE list_contains($heartbeat_sources, source) AND action = $heartbeat_action
),
nodes_seen AS (
    SELECT DISTINCT source, node FROM minutes
    UNION SELECT DISTINCT source, node FROM beats
),
silent_nodes AS (
    -- A node the case says exists (case.toml [completeness.sources.S] nodes) but that wrote nothing at all.
    SELECT
        split_part(x.expected, '/', 1) AS source, split_part(x.expected, '/', 2) AS node, 'silent_node' AS kind,
        $padded_start AS start, $padded_end AS "end", epoch($padded_end - $padded_start) AS seconds,
        CAST(NULL AS BIGINT) AS missing, CAST(NULL AS BIGINT) AS after_seq, CAST(NULL AS BIGINT) AS next_seq,
        'a node listed for this source wrote no event in the window or its baseline' AS detail
    FROM (SELECT unnest($expected_nodes) AS expected) AS x
    WHERE (split_part(x.expected, '/', 1), split_part(x.expected, '/', 2))
        NOT IN (SELECT (source, node) FROM nodes_seen)
),
seq_blocks AS (
    -- Sequence numbers in blocks of 4096: a block holding fewer numbers than its span has a hole, and
    -- consecutive blocks that do not meet have one between them. Only holed blocks are examined row by row.
    SELECT source, node, seq // 4096 AS block, min(seq) AS lo, max(seq) AS hi, count(DISTINCT seq) AS numbers,
           arg_min(ts, seq) AS lo_ts, arg_max(ts, seq) AS hi_ts
    FROM scope
    WHERE seq IS NOT NULL
    GROUP BY ALL
),
between_blocks AS (
    SELECT source, node, hi AS seq, hi_ts AS ts,
           lead(lo) OVER (PARTITION BY source, node ORDER BY block) AS next_seq,
           lead(lo_ts) OVER (PARTITION BY source, node ORDER BY block) AS next_ts
    FROM seq_blocks
),
within_blocks AS (
    SELECT s.source, s.node, s.seq, s.ts,
           lead(s.seq) OVER (PARTITION BY s.source, s.node, b.block ORDER BY s.seq) AS next_seq,
           lead(s.ts) OVER (PARTITION BY s.source, s.node, b.block ORDER BY s.seq) AS next_ts
    FROM scope AS s
    JOIN seq_blocks AS b ON b.source = s.source AND b.node = s.node AND b.block = s.seq // 4096
    WHERE b.numbers < b.hi - b.lo + 1
),
seq_gaps AS (
    SELECT
        source, node, 'seq_gap' AS kind, ts AS start, next_ts AS "end", epoch(next_ts - ts) AS seconds,
        next_seq - seq - 1 AS missing, seq AS after_seq, next_seq,
        format('sequence jumps from {} to {}', seq, next_seq) AS detail
    FROM (SELECT * FROM between_blocks UNION ALL SELECT * FROM within_blocks)
    -- A jump of more than one is lost lines; a step back (node restart) is not judged here.
    WHERE next_seq - seq > 1
      AND next_ts >= $padded_start
      AND ts <= $padded_end
),
beat_ts AS (
    -- Sentinels at both window edges: a node silent from before the window to after it still shows a gap.
    SELECT source, node, ts FROM beats WHERE ts >= $padded_start AND ts < $padded_end
    UNION ALL SELECT DISTINCT source, node, $padded_start FROM beats
    UNION ALL SELECT DISTINCT source, node, $padded_end FROM beats
),
beat_gaps AS (
    SELECT source, node, ts AS start, lead(ts) OVER (PARTITION BY source, node ORDER BY ts) AS "end" FROM beat_ts
),
node_sources AS (
    SELECT DISTINCT source, node FROM minutes WHERE NOT list_contains($heartbeat_sources, source)
),
missing_beats AS (
    -- A missing heartbeat counts against every source that writes from that node (else the heartbeat source).
    SELECT
        coalesce(ns.source, g.source) AS source, g.node, 'missing_heartbeat' AS kind, g.start, g."end",
        epoch(g."end" - g.start) AS seconds,
        CAST(round(epoch(g."end" - g.start) / $heartbeat_interval) AS BIGINT) - 1 AS missing,
        CAST(NULL AS BIGINT) AS after_seq, CAST(NULL AS BIGINT) AS next_seq,
        format('no heartbeat for {:.0f} s (expected every {:.0f} s)', epoch(g."end" - g.start), $heartbeat_interval)
            AS detail
    FROM beat_gaps AS g
    LEFT JOIN node_sources AS ns ON ns.node = g.node
    -- 1.5 intervals tolerates jitter; two missed beats in a row cannot be jitter.
    WHERE epoch(g."end" - g.start) > 1.5 * $heartbeat_interval
),
hours AS (
    SELECT source, date_trunc('hour', minute) AS hour, sum(events) AS events FROM minutes GROUP BY ALL
),
hour_grid AS (
    -- Hours without any event must count as zero, not vanish.
    SELECT b.source, CAST(h.hour AS TIMESTAMPTZ) AS hour
    FROM bounds AS b,
         LATERAL (SELECT unnest(range(date_trunc('hour', b.first_ts), b.last_ts, INTERVAL 1 HOUR)) AS hour) AS h
    WHERE b.source IN (SELECT source FROM hours)
),
hourly AS (
    SELECT g.source, g.hour, coalesce(h.events, 0) AS events, extract('hour' FROM g.hour) AS hour_of_day
    FROM hour_grid AS g LEFT JOIN hours AS h USING (source, hour)
),
hour_baseline AS (
    SELECT source, hour_of_day, median(events) AS baseline FROM hourly GROUP BY ALL
),
low_volume AS (
    SELECT
        h.source, '' AS node, 'low_volume' AS kind, h.hour AS start, h.hour + INTERVAL 1 HOUR AS "end",
        3600.0 AS seconds, CAST(NULL AS BIGINT) AS missing,
        CAST(NULL AS BIGINT) AS after_seq, CAST(NULL AS BIGINT) AS next_seq,
        format('{} events in the hour against a baseline of {:.0f}', h.events, b.baseline) AS detail
    FROM hourly AS h
    JOIN hour_baseline AS b USING (source, hour_of_day)
    -- Only whole hours inside the window are judged: a partial hour is not low volume.
    WHERE h.hour >= $padded_start
      AND h.hour + INTERVAL 1 HOUR <= $padded_end
      AND b.baseline >= $volume_min_baseline
      AND h.events < $volume_ratio * b.baseline
),
in_window AS NOT MATERIALIZED (
    -- Read by both branches of copies: NOT MATERIALIZED lets each read only the columns it needs (DuckDB would
    -- otherwise store every column of every row in the window first: 9.4 s of 10 s at 10 M events; Spark drops
    -- the hint).
    SELECT * FROM events
    WHERE date BETWEEN CAST($padded_start AS DATE) AND CAST($padded_end AS DATE)
      AND ts >= $padded_start
      AND ts < $padded_end
),
copy_candidates AS (
    -- A cheap first pass over rows without a seq: equal records have equal (source, node, ts) and hash equally,
    -- so every group of copies lies in one bucket stored from more than one input. A bucket may also hold
    -- distinct records whose hashes collide (Spark's hash() is 32-bit: tests/test_spark_duplicates.py holds such
    -- a pair for these columns), so it only names the moments to look at; grouping every row by its 26 columns
    -- instead cost 2x the completeness check at 10 M events (bench/copies.py).
    SELECT DISTINCT source, coalesce(node, '') AS node, ts
    FROM in_window
    WHERE seq IS NULL
    GROUP BY source, coalesce(node, ''), ts,
             hash(ts, ts_raw, actor_id, actor_type, merchant_id, action, action_raw, outcome, order_ids, fields,
                  masked, record_count, export_scope, ip, user_agent, session_id, request_id, http_method, url_path,
                  status, bytes, attrs)
    HAVING count(DISTINCT src_sha256) > 1
),
copies AS (
    -- One record stored from more than one input (an export overlapping another, a file re-packed differently):
    -- the same source, node and seq, or (without a seq) the same canonical row apart from where it was read.
    -- Decided by the values themselves, never by a hash of them.
    SELECT source, coalesce(node, '') AS node, min(ts) AS ts, count(*) AS stored,
           count(DISTINCT src_sha256) AS inputs
    FROM in_window
    WHERE seq IS NOT NULL
    GROUP BY source, coalesce(node, ''), seq
    HAVING count(DISTINCT src_sha256) > 1
    UNION ALL
    SELECT u.source, coalesce(u.node, '') AS node, min(u.ts) AS ts, count(*) AS stored,
           count(DISTINCT u.src_sha256) AS inputs
    FROM in_window AS u
    JOIN copy_candidates AS c ON u.source = c.source AND coalesce(u.node, '') = c.node AND u.ts = c.ts
    WHERE u.seq IS NULL
    GROUP BY u.source, coalesce(u.node, ''), u.ts, u.ts_raw, u.ts_offset, u.forwarded_for, u.actor_id,
             u.actor_type, u.merchant_id, u.action, u.action_raw, u.outcome, u.order_ids, u.fields, u.masked,
             u.record_count, u.export_scope, u.ip, u.user_agent, u.session_id, u.request_id, u.http_method,
             u.url_path, u.status, u.bytes, u.attrs
    HAVING count(DISTINCT u.src_sha256) > 1
),
duplicates AS (
    SELECT
        source, node, 'duplicate' AS kind, min(ts) AS start, max(ts) AS "end", epoch(max(ts) - min(ts)) AS seconds,
        CAST(sum(stored - 1) AS BIGINT) AS missing, CAST(NULL AS BIGINT) AS after_seq, CAST(NULL AS BIGINT) AS next_seq,
        format('{} records stored more than once (from up to {} inputs, {} extra copies): '
               || 'checks count each once and list every copy', count(*), max(inputs), sum(stored - 1)) AS detail
    FROM copies
    GROUP BY source, node
)
-- defects: one row per defect (the figures verdicts.py shows beside them reuse every CTE above).
SELECT source, node, kind, start, "end", seconds, missing, after_seq, next_seq, detail
FROM (
    SELECT * FROM gaps
    UNION ALL SELECT * FROM duplicates
    UNION ALL SELECT * FROM coverage
    UNION ALL SELECT * FROM silent_nodes
    UNION ALL SELECT * FROM seq_gaps
    UNION ALL SELECT * FROM missing_beats
    UNION ALL SELECT * FROM low_volume
)
ORDER BY source, kind, node, start
