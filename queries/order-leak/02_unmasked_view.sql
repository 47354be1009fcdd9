-- id: unmasked-view
-- title_en: Unmasked views of the order
-- title_zh: 订单收件信息明文查看（解密）
-- question: Did anyone view the order's receiver information unmasked (a decrypt, or an order view recorded as
--   not masked) in the back office or through the open API during the window, with a successful or unknown outcome?
-- legal_element: Causation: online disclosure by the platform or the merchant (PIPL art. 69; SPC Evidence
--   Provisions arts. 93-94)
-- question_zh: 时间窗内，是否有人在商家后台或通过开放接口以明文方式查看该订单的收件信息（解密操作，或记录为未脱敏的订单查看），且操作结果为成功或未知？
-- legal_element_zh: 因果关系：平台或商家的线上泄露（《个人信息保护法》第六十九条；《最高人民法院关于民事诉讼证据的若干规定》第九十三条、第九十四条）
-- expect: none
-- severity: high
-- depends_on.roles: back_office, open_api
-- depends_on.actions: order.view_unmasked
-- principals: any principal (accounts, sub-accounts, ISV apps, staff)
SELECT
    ts,
    source,
    node,
    actor_id,
    actor_type,
    merchant_id,
    action,
    action_raw,
    outcome,
    masked,
    fields,
    ip,
    user_agent,
    request_id,
    src_sha256,
    line_no
FROM events
WHERE date BETWEEN CAST($padded_start AS DATE) AND CAST($padded_end AS DATE)
  AND ts >= $padded_start
  AND ts < $padded_end
  AND list_contains(order_ids, $order_id)
  -- A failed decrypt disclosed nothing; an unknown outcome might have, so it stays in.
  AND outcome <> 'failure'
  AND (
        action = 'order.view_unmasked'
        -- A plain view the platform itself recorded as unmasked is an unmasked view too.
        OR (action IN ('order.view', 'api.call') AND masked = false AND len(coalesce(fields, [])) > 0)
  )
ORDER BY ts, source, src_sha256, line_no
