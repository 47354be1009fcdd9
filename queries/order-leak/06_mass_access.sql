-- id: mass-access
-- title_en: Mass access across the platform
-- title_zh: 平台范围批量访问
-- question: Did any principal, anywhere on the platform, view unmasked or export far more distinct orders on a day
--   of the window than on its own baseline days (robust z-score over median and MAD, and at least the minimum
--   number of orders)?
-- legal_element: No large-scale breach or theft in the period (the court's "no mass leak" finding)
-- question_zh: 时间窗内，平台上是否有任何主体在某一天明文查看或导出的不同订单数远高于其自身的基线（以中位数和绝对中位差计算的稳健 z 分数，且不少于最低订单数）？
-- legal_element_zh: 期间内未发生大规模泄露或窃取（法院关于“无大规模泄露”的认定）
-- expect: none
-- severity: high
-- depends_on.roles: back_office, open_api
-- depends_on.actions: order.view_unmasked, order.export
-- principals: any principal on the platform (accounts, sub-accounts, ISV apps, staff of every shop)
WITH touches AS (
    -- One row per (principal, day, order) for unmasked views and explicit-id exports; filter exports count
    -- their record_count as anonymous orders, since the ids are not in the log.
    SELECT
        source,
        -- A principal's baseline is per role, not per source: a back office split over two log systems is one
        -- system to the principal (the case binds the sources, $..._sources are bound lists, never formatted).
        CASE WHEN list_contains($back_office_sources, source) THEN 'back_office'
             WHEN list_contains($open_api_sources, source) THEN 'open_api'
             ELSE source END AS system,
        actor_id,
        ts,
        src_sha256,
        line_no,
        CAST(timezone($tz, ts) AS DATE) AS day,
        order_ids,
        CASE WHEN action = 'order.export' AND len(coalesce(order_ids, [])) = 0 THEN coalesce(record_count, 0)
             ELSE 0 END AS filter_records
    FROM events
    WHERE date BETWEEN CAST($padded_start - to_days($baseline_days) AS DATE)
                   AND CAST($padded_end + to_days($baseline_days) AS DATE)
      AND ts >= $padded_start - to_days($baseline_days)
      AND ts < $padded_end + to_days($baseline_days)
      AND actor_id IS NOT NULL
      AND outcome <> 'failure'
      AND (action IN ('order.view_unmasked', 'order.export')
           OR (action IN ('order.view', 'api.call') AND masked = false AND len(coalesce(fields, [])) > 0))
),
daily_ids AS (
    SELECT system, actor_id, day, count(DISTINCT order_id) AS id_orders
    FROM (SELECT system, actor_id, day, unnest(order_ids) AS order_id FROM touches WHERE len(order_ids) > 0)
    GROUP BY ALL
),
daily AS (
    SELECT
        t.system,
        arg_min(t.source, t.ts) AS source,
        t.actor_id,
        t.day,
        coalesce(any_value(i.id_orders), 0) + sum(t.filter_records) AS orders,
        min(t.ts) AS first_ts,
        max(t.ts) AS last_ts,
        -- Provenance: the principal's first event of that day.
        arg_min(t.src_sha256, t.ts) AS src_sha256,
        arg_min(t.line_no, t.ts) AS line_no
    FROM touches AS t
    LEFT JOIN daily_ids AS i USING (system, actor_id, day)
    GROUP BY t.system, t.actor_id, t.day
),
days AS (
    SELECT CAST(d AS DATE) AS day,
           CAST(d AS DATE) < CAST(timezone($tz, $padded_start) AS DATE)
               OR CAST(d AS DATE) > CAST(timezone($tz, $padded_end) AS DATE) AS is_baseline
    FROM range(
        CAST(CAST(timezone($tz, $padded_start - to_days($baseline_days)) AS DATE) AS TIMESTAMP),
        CAST(CAST(timezone($tz, $padded_end + to_days($baseline_days)) AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY,
        INTERVAL 1 DAY
    ) AS t(d)
),
baseline_counts AS (
    -- Days without activity count as zero: a principal that usually does nothing has a baseline of nothing.
    SELECT p.system, p.actor_id, b.day, coalesce(d.orders, 0) AS orders
    FROM (SELECT DISTINCT system, actor_id FROM daily) AS p
    CROSS JOIN (SELECT day FROM days WHERE is_baseline) AS b
    LEFT JOIN daily AS d ON d.system = p.system AND d.actor_id = p.actor_id AND d.day = b.day
),
medians AS (
    SELECT system, actor_id, median(orders) AS med FROM baseline_counts GROUP BY ALL
),
baseline AS (
    SELECT c.system, c.actor_id, any_value(m.med) AS med, median(abs(c.orders - m.med)) AS mad
    FROM baseline_counts AS c
    JOIN medians AS m USING (system, actor_id)
    GROUP BY c.system, c.actor_id
)
SELECT
    d.source,
    d.actor_id,
    d.day,
    d.orders AS window_orders,
    coalesce(b.med, 0) AS baseline_median,
    coalesce(b.mad, 0) AS baseline_mad,
    -- 1.4826 * MAD estimates the standard deviation; a MAD of 0 is floored at 1 so a quiet principal with a
    -- sudden burst scores its burst size rather than infinity.
    round((d.orders - coalesce(b.med, 0)) / (1.4826 * greatest(coalesce(b.mad, 0), 1)), 2) AS robust_z,
    d.first_ts,
    d.last_ts,
    d.src_sha256,
    d.line_no
FROM daily AS d
LEFT JOIN baseline AS b USING (system, actor_id)
JOIN days AS w ON w.day = d.day AND NOT w.is_baseline
WHERE d.orders >= $mass_min_orders
  AND (d.orders - coalesce(b.med, 0)) / (1.4826 * greatest(coalesce(b.mad, 0), 1)) > $mass_z
ORDER BY d.day, d.source, d.actor_id
