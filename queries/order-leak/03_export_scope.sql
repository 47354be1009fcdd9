-- id: export-scope
-- title_en: Exports covering the order, and their downloads
-- title_zh: 覆盖该订单的导出及下载
-- question: Did anyone create an export whose scope covers the order (by an explicit order id list, or by a
--   filter of the fulfilling shop whose creation-date range contains the order's creation date), or download
--   such an export, during the window?
-- legal_element: Causation: online disclosure by the platform or the merchant (PIPL art. 69; SPC Evidence
--   Provisions arts. 93-94)
-- question_zh: 时间窗内，是否有人创建了范围覆盖该订单的导出（以明确列出的订单号，或以履约店铺的筛选条件且其创建日期范围包含该订单的创建日期），或下载了此类导出文件？
-- legal_element_zh: 因果关系：平台或商家的线上泄露（《个人信息保护法》第六十九条；《最高人民法院关于民事诉讼证据的若干规定》第九十三条、第九十四条）
-- expect: none
-- severity: high
-- depends_on.roles: back_office
-- depends_on.actions: order.export, order.export_download
-- principals: any principal (accounts, sub-accounts, ISV apps, staff)
WITH raw AS (
    -- Exports are looked for from a baseline before the window: an export made earlier but downloaded
    -- inside the window still puts the order's data in someone's hands inside the window.
    SELECT
        ts, source, node, actor_id, actor_type, merchant_id, action, action_raw, order_ids, export_scope,
        record_count, ip, src_sha256, line_no,
        -- Platforms write the scope as JSON; anything else is kept but not parsed (and judged conservatively).
        CASE WHEN json_valid(export_scope) THEN export_scope END AS scope_json,
        CASE WHEN json_valid(attrs) THEN attrs END AS attrs_json
    FROM events
    WHERE date BETWEEN CAST($padded_start - to_days($baseline_days) AS DATE) AND CAST($padded_end AS DATE)
      AND ts >= $padded_start - to_days($baseline_days)
      AND ts < $padded_end
      AND action IN ('order.export', 'order.export_download')
      AND outcome <> 'failure'
),
candidates AS (
    SELECT
        *,
        coalesce(
            json_extract_string(attrs_json, '$.export_task_id'),
            json_extract_string(attrs_json, '$.export_id'),
            json_extract_string(attrs_json, '$.task_id'),
            json_extract_string(scope_json, '$.export_task_id')
        ) AS export_id,
        coalesce(
            json_extract_string(scope_json, '$.created_from'),
            json_extract_string(scope_json, '$.start_date'),
            json_extract_string(scope_json, '$.from')
        ) AS filter_from,
        coalesce(
            json_extract_string(scope_json, '$.created_to'),
            json_extract_string(scope_json, '$.end_date'),
            json_extract_string(scope_json, '$.to')
        ) AS filter_to,
        -- The order's creation date on the shop's calendar (the case's zone), which date filters are written in.
        CAST(timezone($tz, CAST($order_created_at AS TIMESTAMPTZ)) AS DATE) AS order_date
    FROM raw
),
judged AS (
    SELECT
        *,
        CASE
            WHEN list_contains(order_ids, $order_id) THEN 'order id list'
            -- A filter only selects the exporting shop's own orders.
            WHEN merchant_id IS DISTINCT FROM $merchant_id THEN NULL
            -- An explicit id list selects exactly those ids.
            WHEN len(coalesce(order_ids, [])) > 0 THEN NULL
            -- Same shop and the scope is not recorded or not readable: it may have covered the order; say so.
            WHEN export_scope IS NULL THEN 'unrecorded scope (same shop)'
            WHEN scope_json IS NULL THEN 'unreadable scope (same shop)'
            WHEN filter_from IS NULL AND filter_to IS NULL THEN 'filter without a date range (same shop)'
            WHEN order_date IS NULL THEN 'date filter (order creation time unknown)'
            -- An open end of the range is unbounded.
            WHEN coalesce(TRY_CAST(left(filter_from, 10) AS DATE), DATE '0001-01-01') <= order_date
             AND order_date <= coalesce(TRY_CAST(left(filter_to, 10) AS DATE), DATE '9999-12-31')
                THEN 'date filter'
            ELSE NULL
        END AS covers_by
    FROM candidates
),
covering_exports AS (
    SELECT DISTINCT export_id FROM judged WHERE covers_by IS NOT NULL AND export_id IS NOT NULL
)
SELECT
    ts,
    source,
    node,
    actor_id,
    actor_type,
    merchant_id,
    action,
    action_raw,
    export_id,
    export_scope,
    record_count,
    coalesce(covers_by, 'download of a covering export') AS covers_by,
    ip,
    src_sha256,
    line_no
FROM judged
WHERE ts >= $padded_start
  AND (
        covers_by IS NOT NULL
        OR (action = 'order.export_download' AND export_id IN (SELECT export_id FROM covering_exports))
  )
ORDER BY ts, source, src_sha256, line_no
