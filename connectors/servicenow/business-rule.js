/*
 * approval-hub: ServiceNow business rule that pushes change_request and sysapproval_approver updates to
 * the hub. Install it twice (see connectors/servicenow/README.md):
 *   1. Table change_request,       When: after, Insert + Update, Condition: current.state.changes() || current.approval.changes()
 *   2. Table sysapproval_approver, When: after, Update,          Condition: current.state.changes() && current.source_table == 'change_request'
 * System properties (create them, type password2 for the secret):
 *   x_approval_hub.endpoint  https://hub.example.com/webhooks/<connection id>
 *   x_approval_hub.secret    the connection's webhook.secret
 * Or, for a connection with webhook.username/password instead of webhook.secret, no x_approval_hub.secret but
 *   x_approval_hub.username  the connection's webhook.username
 *   x_approval_hub.password  (type password2) the connection's webhook.password
 * and the post carries Basic auth instead of the signature.
 * The request is sent with executeAsync(), so a slow or unreachable hub never blocks the user's update;
 * reconciliation (polling) catches anything that is lost.
 *
 * Body (the hub's own shape; connectors/servicenow/parse.ts reads it):
 *   { "event": "record.updated" | "decision.recorded", "table": "...", "instance": "https://<instance>.service-now.com",
 *     "changed": ["state", ...], "record": { raw field values, references as sys_ids, dot-walked emails } }
 * Headers: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>,
 *          X-Approval-Hub-Delivery: <table>:<sys_id>:<sys_mod_count>, X-Approval-Hub-Event: <event>
 */
(function executeRule(current, _previous) {
  var endpoint = gs.getProperty('x_approval_hub.endpoint');
  var secret = gs.getProperty('x_approval_hub.secret');
  var basicUser = gs.getProperty('x_approval_hub.username');
  var basicPassword = gs.getProperty('x_approval_hub.password');
  if (!endpoint || (!secret && !(basicUser && basicPassword))) {
    gs.warn('approval-hub: x_approval_hub.endpoint, or x_approval_hub.secret (or x_approval_hub.username and .password), is not set; update not sent');
    return;
  }

  var table = current.getTableName();
  var fields = table == 'change_request'
    ? ['sys_id', 'number', 'short_description', 'description', 'type', 'state', 'approval', 'risk', 'justification',
       'start_date', 'end_date', 'backout_plan', 'correlation_id', 'sys_created_on', 'sys_updated_on', 'sys_mod_count']
    : ['sys_id', 'state', 'sysapproval', 'approver', 'group', 'source_table', 'sys_updated_on', 'sys_mod_count'];

  var record = {};
  var changed = [];
  for (var i = 0; i < fields.length; i++) {
    var name = fields[i];
    record[name] = current.getValue(name) || '';
    if (current[name].changes()) changed.push(name);
  }
  if (table == 'change_request') {
    // Dot-walked values, with the same flat keys the Table API uses for sysparm_fields=requested_by.email.
    record['requested_by.email'] = current.requested_by.email + '';
    record['assignment_group.name'] = current.assignment_group.name + '';
    record['cmdb_ci.name'] = current.cmdb_ci.name + '';
  } else {
    record['approver.email'] = current.approver.email + '';
    // The newest journal entry: "2024-11-24 13:10:02 - Beth Anglin (Comments)\nLooks fine\n\n"
    record.comments = current.comments.getJournalEntry(1) || '';
  }

  var event = table == 'change_request' ? 'record.updated' : 'decision.recorded';
  var body = JSON.stringify({
    event: event,
    table: table,
    instance: 'https://' + gs.getProperty('instance_name') + '.service-now.com',
    changed: changed,
    record: record
  });

  var request = new sn_ws.RESTMessageV2();
  request.setEndpoint(endpoint);
  request.setHttpMethod('post');
  request.setRequestHeader('Content-Type', 'application/json');
  request.setRequestHeader('X-Approval-Hub-Event', event);
  request.setRequestHeader('X-Approval-Hub-Delivery', table + ':' + record.sys_id + ':' + record.sys_mod_count);
  if (secret) request.setRequestHeader('X-Hub-Signature-256', 'sha256=' + hmacSha256Hex(secret, body));
  else request.setBasicAuth(basicUser, basicPassword);
  request.setRequestBody(body);
  request.executeAsync();

  function hmacSha256Hex(key, data) {
    // GlideCertificateEncryption takes a base64 key and returns a base64 MAC; the hub expects hex.
    var mac = new GlideCertificateEncryption().generateMac(GlideStringUtil.base64Encode(key), 'HmacSHA256', data);
    var bytes = GlideStringUtil.base64DecodeAsBytes(mac);
    var hex = '';
    for (var b = 0; b < bytes.length; b++) {
      var v = bytes[b] & 0xff;
      hex += (v < 16 ? '0' : '') + v.toString(16);
    }
    return hex;
  }
})(current, previous);
