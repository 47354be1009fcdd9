-- id: field-exposure
-- title_en: Which channel exposed what the fraudster knew
-- title_zh: 信息泄露渠道比对
-- question: For each disclosure channel in the case's exposure map, which recorded events of that channel touched
--   the order during the window (failed attempts excluded)? The channel-by-field comparison with what the
--   fraudster knew is in the exposure table.
-- legal_element: Causation: the leak channel (fields on the paper waybill versus order-only fields)
-- expect: info
-- severity: info
-- depends_on.roles: back_office, open_api, logistics_print
-- depends_on.actions:
-- principals: any principal
SELECT
    ts,
    source,
    node,
    actor_id,
    merchant_id,
    action,
    action_raw,
    outcome,
    masked,
    fields,
    src_sha256,
    line_no
FROM events
WHERE date BETWEEN CAST($padded_start AS DATE) AND CAST($padded_end AS DATE)
  AND ts >= $padded_start
  AND ts < $padded_end
  AND list_contains(order_ids, $order_id)
  AND list_contains($exposure_actions, action)
  -- A failed attempt disclosed nothing through the channel.
  AND outcome <> 'failure'
ORDER BY ts, source, src_sha256, line_no
