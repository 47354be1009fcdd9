-- id: field-exposure
-- title_en: Which channel exposed what the fraudster knew
-- title_zh: 信息泄露渠道比对
-- question: For each disclosure channel in the case's exposure map, which recorded events of that channel touched
--   the order during the window (failed attempts excluded)? The channel-by-field comparison with what the
--   fraudster knew is in the exposure table.
-- legal_element: Causation: the leak channel (fields on the paper waybill versus order-only fields)
-- question_zh: 对于案件暴露渠道表中的每个泄露渠道，时间窗内该渠道有哪些记录事件涉及该订单（不含失败的尝试）？各渠道字段与欺诈者所知字段的比对见暴露比对表。
-- legal_element_zh: 因果关系：泄露渠道（纸质面单上的字段与仅见于订单的字段之比对）
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
