"""cdk-nag (AwsSolutions) acknowledgements, each with the reason a security reviewer would ask for.

Each one is attached to the narrowest construct it concerns, never to the whole stack, so a new
finding elsewhere still fails the synth.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import IConstruct

XRAY_WILDCARD = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason="xray:PutTraceSegments and xray:PutTelemetryRecords support no resource types (AWS Service "
    "Authorization Reference), so Resource '*' is the narrowest scope IAM allows. The statement "
    "sits alone in this customer-managed policy with only those two write actions; functions get "
    "nothing else through it.",
)

PINNED_RUNTIME = Acknowledgment(
    id="AwsSolutions::AwsSolutions-L1",
    reason="The runtime is pinned on purpose to the interpreter the dependencies layer is built and "
    "tested for (cp312 / aarch64 wheels, infra/bundling.py LAMBDA_PYTHON_VERSION). python3.12 is "
    "a supported Lambda runtime; moving to a newer one is a deliberate change of RUNTIME and "
    "LAMBDA_PYTHON_VERSION together, with the layer test re-run.",
)

WRITE_KEY_AUTH = Acknowledgment(
    id="AwsSolutions::AwsSolutions-APIG4",
    reason="Public Segment-compatible tracking endpoint: the unmodified Segment SDKs (browsers included) "
    "authenticate with the source's write key, sent as the HTTP Basic user name or as writeKey in "
    "the body, which IAM, JWT or Cognito authorizers cannot express. The ingest function checks "
    "every request against the config table and answers 401/403 for unknown or disabled keys; a "
    "Lambda authorizer would run the same check in a second invocation. Source-function webhooks "
    "are called by third parties (payment providers, CRMs) that can only send a URL: the handler "
    "checks the function's token from the query string against its stored hash and answers 401. "
    "Stage throttling bounds abuse, and with the waf option AWS WAF rate rules per client address and "
    "per Authorization header.",
)

# The same reason for the Cognito check of REST API methods: SDKs cannot present Cognito tokens either.
WRITE_KEY_AUTH_NOT_COGNITO = Acknowledgment(id="AwsSolutions::AwsSolutions-COG4", reason=WRITE_KEY_AUTH.reason)

HANDLER_VALIDATES_REQUESTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-APIG2",
    reason="The ingest function validates every request itself, the same way behind either API kind: "
    "bodies arrive gzip-compressed or as text/plain (the browser library), which API Gateway request "
    "models cannot read, and batches are validated message by message (an invalid message is discarded "
    "with a counted reason code, the valid ones kept), where a request model would refuse the whole "
    "batch. Paths are fixed resources; unknown ones never reach Lambda.",
)

NO_EXECUTION_LOGS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-APIG6",
    reason="Execution logging is off on purpose. It records request paths, query strings and headers "
    "(the write key in /v1/projects/{writeKey}/settings and pixel ?writeKey=, webhook tokens), which "
    "this project keeps out of every log, and it needs the account-wide API Gateway CloudWatch role. "
    "The stage's access log records every request by resource template with status, latencies, the "
    "firewall's verdict and API Gateway's error type; the ingest function logs its own errors.",
)

NO_ACCESS_LOGS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-APIG1",
    reason="The operator turned the tracking API's access log off (api_access_logs=false) to stop "
    "paying CloudWatch Logs ingestion for one line per request, the largest log item at high volume. "
    "Requests remain counted and timed in API Gateway's stage metrics (count, 4xx, 5xx, latency), "
    "which the dashboard shows and the 5xx-rate alarm watches; the ingest function logs every error it "
    "answers with; with waf=true the firewall's rule metrics count what it blocks. The access log "
    "returns with api_access_logs=true on the next deploy.",
)

ALB_NO_ACCESS_LOGS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-ELB2",
    reason="The tracking load balancer (front_door=alb) keeps no access log on purpose: an ALB access log "
    "records each request's full URL, and write keys travel in /v1/projects/{writeKey}/settings and in "
    "pixel query strings, which this project keeps out of every log. Requests, 4xx, 5xx and latency are "
    "the ALB's CloudWatch metrics, which the dashboard shows and the 5xx-rate alarm watches; the ingest "
    "function logs every error it answers with.",
)

ALB_OPEN_TO_SDKS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-EC23",
    reason="The tracking load balancer is the public Segment-compatible endpoint: browsers and server "
    "SDKs anywhere send to it, so its security group allows HTTPS (443 only) from any address. It allows "
    "no egress (its Lambda target is invoked, not reached over the network); the ingest function checks "
    "every request's write key.",
)

ALB_VPC_WITHOUT_FLOW_LOGS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-VPC7",
    reason="This VPC holds only the tracking load balancer's two network interfaces (public subnets, no "
    "NAT gateway, no instances): its traffic is the HTTPS requests the ALB's metrics already count. "
    "Flow logs would bill CloudWatch Logs for a record per connection of every SDK, the cost the "
    "front_door=alb option exists to avoid.",
)

DEDUPE_WITHOUT_BACKUPS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-DDB3",
    reason="The dedupe table holds only claims of (source, messageId) pairs for the dedupe window "
    "(24 hours by default), each expiring by TTL; it is no record of anything. Point-in-time recovery "
    "would bill continuous backups of data worth nothing a day later, and a restore would bring back "
    "stale claims that make the router drop events as duplicates. Losing the table costs at most a "
    "window of duplicate suppression; the events themselves are in the stream and the archive.",
)

# The id names the archive bucket's logical id; archive_objects() fills it in.
ARCHIVE_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/*]",
    reason="Archive object keys are computed per batch from the data (source_id=<id>/date=<day>/"
    "hour=<hour>/<shard>-<sequence>.jsonl.gz), and sources are added at any time through the "
    "workspace config, so no fixed list of prefixes or keys exists at deploy time. The wildcard "
    "covers only the objects of the one regional archive bucket, for only the object actions the "
    "function uses (router: s3:PutObject, no read, list or delete), with the archive key granted "
    "for those objects only.",
)

# Replay. The ids name the archive bucket's logical id, or the state machine's ARN; the helpers
# below fill them in.
STATE_MACHINE_LOGS_AND_TRACING = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason="Step Functions delivers its logs through the CloudWatch Logs vended log delivery API "
    "(logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, "
    "ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and its "
    "traces through X-Ray (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, "
    "GetSamplingTargets); none of these actions supports resource-level permissions (AWS Service "
    "Authorization Reference; the Step Functions logging guide requires Resource '*'). The statement "
    "sits alone in this customer-managed policy, attached to one workflow's role only (replay, user deletion).",
)

# The same policy without tracing (`tracing` off or sampled): log delivery only.
STATE_MACHINE_LOGS = Acknowledgment(
    id=STATE_MACHINE_LOGS_AND_TRACING.id,
    reason="Step Functions delivers its logs through the CloudWatch Logs vended log delivery API "
    "(logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, "
    "ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups), none of which "
    "supports resource-level permissions (AWS Service Authorization Reference; the Step Functions "
    "logging guide requires Resource '*'). The statement sits alone in this customer-managed policy, "
    "attached to one workflow's role only (replay, user deletion); the workflow is not traced.",
)

UNTRACED_WORKFLOW = Acknowledgment(
    id="AwsSolutions::AwsSolutions-SF2",
    reason="X-Ray tracing is a cost lever the operator sets with the tracing option, and only "
    "tracing=active traces the workflows. The replay and user deletion workflows are operator-started "
    "batch jobs whose every state transition is already in the workflow's own log group (level ALL, "
    "without execution data), and each of their functions logs its own work and errors; traces would "
    "add latency breakdowns but no record that is not already kept. tracing=active turns it back on.",
)

REPLAY_ARCHIVE_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/source_id=*]",
    reason="A replay worker reads the archive objects its batch names, whose keys are computed from "
    "the data (source_id=<id>/date=<day>/hour=<hour>/<shard>-<sequence>.jsonl.gz) and exist only "
    "once the plan step has listed them at run time, for sources added at any time through the "
    "workspace config. The wildcard covers only the event objects of the one regional archive "
    "bucket (not the replay manifests), for s3:GetObject alone (no list, write or delete), with the "
    "archive key granted for kms:Decrypt only.",
)

REPLAY_MANIFESTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/_replays/*]",
    reason="Each replay writes its manifest (the batches of archive objects the Distributed Map "
    "reads) at _replays/<replay id>/manifest.json, and replay ids are created at run time by the "
    "operator's CLI, so no key is known at deploy time. The wildcard covers only the _replays/ "
    "prefix of the one regional archive bucket, outside the event partitions: the plan step may "
    "only put objects there and the workflow may only get them, never the archived events.",
)

REPLAY_CHILD_EXECUTIONS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<child executions>]",
    reason="The replay workflow's Distributed Map runs each batch as a child execution of the "
    "workflow itself, named at run time (execution:<state machine>/<map run>:<id>); to follow and "
    "stop them Step Functions needs states:DescribeExecution and states:StopExecution on the "
    "executions of this one state machine, which is the scope the Distributed Map documentation "
    "prescribes. No other state machine's executions, and no other actions, are covered.",
)

DELETION_ARCHIVE_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/source_id=*]",
    reason="A user deletion must reach every archived event of the users, wherever it is: the worker "
    "reads each object version its batch names (s3:GetObject, s3:GetObjectVersion), writes the "
    "object back without the users' events (s3:PutObject) and deletes the versions that held them "
    "(s3:DeleteObjectVersion), and lists a key's versions (s3:ListBucketVersions, only for prefixes "
    "under source_id=). Keys are computed from the data and sources are added at run time, so no "
    "fixed list exists at deploy time. The wildcard covers only the event objects of the one regional "
    "archive bucket, never the manifests or other prefixes; the workflow runs only when an operator "
    "starts a deletion.",
)

DELETION_RECORDS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/_deletions/*]",
    reason="Each user deletion keeps its manifest, its per-batch lists of changed objects and its "
    "final report at _deletions/<deletion id>/, and deletion ids are created at run time by the "
    "operator's CLI, so no key is known at deploy time. The wildcard covers only the _deletions/ "
    "prefix of the one regional archive bucket, outside the event partitions.",
)

DELETION_DEBUGGER_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/_debugger/*]",
    reason="A user deletion clears the Source Debugger's samples, which may hold the deleted users' events: "
    "the finish step lists the versions under _debugger/ (s3:ListBucketVersions, only for that prefix) and "
    "deletes them by version (s3:DeleteObjectVersion). Their keys are written by the router at run "
    "time (one per source and batch), so none is known at deploy time. The wildcard covers only the "
    "_debugger/ prefix of the one regional archive bucket, never the event partitions; no read.",
)

DELETION_CHILD_EXECUTIONS = Acknowledgment(
    id=REPLAY_CHILD_EXECUTIONS.id,
    reason="The user deletion workflow's two Distributed Maps run each batch as a child execution of "
    "the workflow itself, named at run time (execution:<state machine>/<map run>:<id>); to follow "
    "and stop them Step Functions needs states:DescribeExecution and states:StopExecution on the "
    "executions of this one state machine, the scope the Distributed Map documentation prescribes.",
)

ANALYSTS_ARCHIVE_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/source_id=*]",
    reason="Analysts query the archive through its Athena table, and Athena reads the table's objects "
    "with the analyst's own credentials. The objects are the table's partitions, named from the data "
    "(source_id=<id>/date=<day>/hour=<hour>/<shard>-<sequence>.jsonl.gz) for sources added at any time "
    "through the workspace config, so no fixed list exists at deploy time. The wildcard covers only "
    "the event objects of the one regional archive bucket (not the replay and deletion records), for "
    "s3:GetObject alone, and the archive key is granted for kms:Decrypt only through S3 for this bucket.",
)

LAKE_ARCHIVE_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/source_id=*]",
    reason="The lake loader reads every archive object of the hours it loads (s3:GetObject) and, once an "
    "hour is closed, deletes the small objects it merged into the hour's compacted object (s3:DeleteObject, "
    "which in the versioned bucket only adds a delete marker: the versions expire with the archive's "
    "noncurrent-version rule). Keys derive from the data (source_id=<id>/date=<day>/hour=<hour>/...) for "
    "sources added at any time through the workspace, so no fixed list exists at deploy time. The wildcard "
    "covers only the event objects of the one regional archive bucket, not its other prefixes.",
)

LAKE_COMPACTED_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/source_id=*/compacted-*]",
    reason="Compaction writes a few objects per closed hour, source_id=<id>/date=<day>/hour=<hour>/"
    "compacted-<nnnn>.jsonl.gz, in hours and for sources known only at run time. The loader may put "
    "nothing else among the event objects: the wildcards stand for the source, day, hour and part number, "
    "and the router names its objects after shards (shardId-...), so the loader cannot overwrite any "
    "object the router wrote (s3:PutObject alone).",
)

LAKE_FILES = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/lake/*]",
    reason="The lake's Parquet files are lake/<table>/source_id=<id>/date=<day>/hour=<hour>/part-<nnnnn>.parquet, "
    "with tables created from the events' names (one per track event) and sources added at run time, so no "
    "key is known at deploy time. The loader writes, reads and replaces them, and deletes every older "
    "version of a file it replaced (s3:DeleteObjectVersion) so that a user deletion leaves no copy once the "
    "hour is reloaded. The wildcard covers only the lake/ prefix of the one regional archive bucket, which "
    "holds derived data only, never the archived events.",
)

LAKE_LOAD_RECORDS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/_lake_loads/*]",
    reason="The loader keeps one record per loaded hour at _lake_loads/source_id=<id>/date=<day>/hour=<hour>/"
    "load.json (when it loaded, the files it wrote), for hours and sources known only at run time; the "
    "next load of the hour reads it back. The wildcard covers only the _lake_loads/ prefix of the one "
    "regional archive bucket, outside the event partitions, for s3:GetObject and s3:PutObject only.",
)

LAKE_TABLES = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<lake tables>]",
    reason="The lake's tables are created by the loader as data arrives (one per track event name, like "
    "Segment's warehouse schema) and widened when new properties appear, so their names are not known at "
    "deploy time. The wildcard covers the tables of the switchyard_lake database of this region's Data "
    "Catalog only, for glue:GetTable, GetTables, CreateTable and UpdateTable: no deletes, no other "
    "database (not the archive's table), no partitions (projected, never registered).",
)

LAKE_ROUTER_LAG = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason="The lake loader reads the router's IteratorAge (cloudwatch:GetMetricStatistics) to know which "
    "hours are complete in the archive before it compacts them. CloudWatch's metric reads support no "
    "resource types and no condition keys (AWS Service Authorization Reference), so Resource '*' is the "
    "narrowest scope IAM allows. The statement sits alone, with that one read action, in this "
    "customer-managed policy attached to the loader's role only; metric data holds no event data.",
)

ANALYSTS_LAKE_FILES = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/lake/*]",
    reason="Analysts query the lake's tables through Athena, which reads their Parquet files with the "
    "analyst's own credentials. The files are lake/<table>/source_id=<id>/date=<day>/hour=<hour>/..., with "
    "tables and sources created at run time, so no fixed list exists at deploy time. The wildcard covers "
    "only the lake/ prefix of the one regional archive bucket (derived data), for s3:GetObject alone, and "
    "listings only under that prefix.",
)

ANALYSTS_QUERY_RESULTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/_athena/*]",
    reason="The stack's Athena workgroup enforces its query results location, _athena/ in the archive "
    "bucket, encrypted with the archive key; Athena writes each query's results there under a query id made "
    "at run time and reads them back, with the analyst's own credentials. The wildcard covers only that "
    "prefix (s3:GetObject, s3:PutObject, and listings under it), outside the event partitions and the lake.",
)

ANALYSTS_LAKE_TABLES = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<lake tables>]",
    reason="The lake's tables are created by the loader at run time (one per track event name), so the "
    "analysts' read of the catalog cannot list them at deploy time. The wildcard covers the tables of the "
    "switchyard_lake database of this region's Data Catalog only, for Glue read actions (the table, its "
    "projected partitions, the list of tables): no create, update or delete, and no other database.",
)

ALERTS_VOLUME_CHECK_METRICS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason="The alerts' volume check lists the workspace alarms (cloudwatch:DescribeAlarms, filtered by the "
    "region's alarm prefix in the request), reads the sources' MessagesReceived (cloudwatch:GetMetricData) "
    "and publishes SourceVolumeChange (cloudwatch:PutMetricData). GetMetricData and PutMetricData support no "
    "resource types (AWS Service Authorization Reference), so Resource '*' is the narrowest scope IAM allows; "
    "PutMetricData is limited to the Switchyard namespace by the cloudwatch:namespace condition. The statements "
    "sit alone in this customer-managed policy attached to the check's role only; metrics hold no event data.",
)

ALL = (
    XRAY_WILDCARD,
    ALERTS_VOLUME_CHECK_METRICS,
    PINNED_RUNTIME,
    WRITE_KEY_AUTH,
    WRITE_KEY_AUTH_NOT_COGNITO,
    HANDLER_VALIDATES_REQUESTS,
    NO_EXECUTION_LOGS,
    NO_ACCESS_LOGS,
    DEDUPE_WITHOUT_BACKUPS,
    ARCHIVE_OBJECTS,
    STATE_MACHINE_LOGS_AND_TRACING,
    STATE_MACHINE_LOGS,
    UNTRACED_WORKFLOW,
    REPLAY_ARCHIVE_OBJECTS,
    REPLAY_MANIFESTS,
    REPLAY_CHILD_EXECUTIONS,
    DELETION_ARCHIVE_OBJECTS,
    DELETION_RECORDS,
    DELETION_DEBUGGER_OBJECTS,
    DELETION_CHILD_EXECUTIONS,
    ANALYSTS_ARCHIVE_OBJECTS,
    ALB_NO_ACCESS_LOGS,
    ALB_OPEN_TO_SDKS,
    ALB_VPC_WITHOUT_FLOW_LOGS,
    LAKE_ARCHIVE_OBJECTS,
    LAKE_COMPACTED_OBJECTS,
    LAKE_FILES,
    LAKE_LOAD_RECORDS,
    LAKE_TABLES,
    LAKE_ROUTER_LAG,
    ANALYSTS_LAKE_FILES,
    ANALYSTS_QUERY_RESULTS,
    ANALYSTS_LAKE_TABLES,
)


def acknowledge_xray_policy(policy: iam.ManagedPolicy) -> None:
    Validations.of(policy).acknowledge(XRAY_WILDCARD)


def acknowledge_pinned_runtime(function: lambda_.Function) -> None:
    Validations.of(function).acknowledge(PINNED_RUNTIME)


def acknowledge_write_key_routes(api: apigwv2.HttpApi) -> None:
    """The routes of the tracking API only (a later API with an authorizer is still checked)."""
    for child in api.node.children:
        if isinstance(child, apigwv2.HttpRoute):
            Validations.of(child).acknowledge(WRITE_KEY_AUTH)


def acknowledge_rest_api(api: apigw.RestApi) -> None:
    """The REST tracking API: its methods (no authorizer), the API (no request models), its stage
    (no execution logs), each on that construct only."""
    for method in api.methods:
        Validations.of(method).acknowledge(WRITE_KEY_AUTH)
        if method.http_method != "OPTIONS":  # cdk-nag leaves preflights out of its Cognito check
            Validations.of(method).acknowledge(WRITE_KEY_AUTH_NOT_COGNITO)
    Validations.of(api.node.default_child).acknowledge(HANDLER_VALIDATES_REQUESTS)
    Validations.of(api.deployment_stage.node.default_child).acknowledge(NO_EXECUTION_LOGS)


def acknowledge_no_access_logs(stage: apigw.Stage | apigwv2.HttpStage) -> None:
    """A tracking API stage without an access log (`api_access_logs=false`), that stage only."""
    Validations.of(stage.node.default_child).acknowledge(NO_ACCESS_LOGS)


def acknowledge_load_balancer(
    load_balancer: elbv2.ApplicationLoadBalancer, security_group: ec2.SecurityGroup, vpc: ec2.Vpc
) -> None:
    """The tracking load balancer (no access log), its security group (open on 443), its VPC (no flow logs)."""
    Validations.of(load_balancer.node.default_child).acknowledge(ALB_NO_ACCESS_LOGS)
    Validations.of(security_group.node.default_child).acknowledge(ALB_OPEN_TO_SDKS)
    Validations.of(vpc.node.default_child).acknowledge(ALB_VPC_WITHOUT_FLOW_LOGS)


def acknowledge_dedupe_without_backups(table: dynamodb.Table) -> None:
    """The dedupe table's missing point-in-time recovery, on that table only."""
    Validations.of(table.node.default_child).acknowledge(DEDUPE_WITHOUT_BACKUPS)


def acknowledge_archive_objects(function: lambda_.Function, bucket: s3.IBucket) -> None:
    """The `<archive bucket>/*` object grant, on the function's role policy only."""
    _acknowledge_on_bucket(_default_policy(function.role), bucket, ARCHIVE_OBJECTS)


def acknowledge_state_machine_logs_and_tracing(policy: iam.ManagedPolicy, *, traced: bool) -> None:
    Validations.of(policy).acknowledge(STATE_MACHINE_LOGS_AND_TRACING if traced else STATE_MACHINE_LOGS)


def acknowledge_untraced_workflow(state_machine: sfn.StateMachine) -> None:
    """A workflow's state machine without X-Ray (`tracing` off or sampled), that state machine only."""
    Validations.of(state_machine.node.default_child).acknowledge(UNTRACED_WORKFLOW)


def acknowledge_analysts_policy(policy: iam.ManagedPolicy, bucket: s3.IBucket, lake_tables_arn: str) -> None:
    """The analysts' `<archive bucket>/source_id=*` and `lake/*` reads, their query results under
    `_athena/*` and the lake's tables, on their managed policy only."""
    _acknowledge_on_bucket(policy, bucket, ANALYSTS_ARCHIVE_OBJECTS)
    _acknowledge_on_bucket(policy, bucket, ANALYSTS_LAKE_FILES)
    _acknowledge_on_bucket(policy, bucket, ANALYSTS_QUERY_RESULTS)
    _acknowledge_arn(policy, ANALYSTS_LAKE_TABLES, "<lake tables>", lake_tables_arn)


def acknowledge_lake_loader(role: iam.IRole | None, bucket: s3.IBucket, lake_tables_arn: str) -> None:
    """The lake loader's grants on the archive's event objects, compacted objects, lake files and load
    records, and on the lake's tables, on its role policy only."""
    policy = _default_policy(role)
    for acknowledgement in (LAKE_ARCHIVE_OBJECTS, LAKE_COMPACTED_OBJECTS, LAKE_FILES, LAKE_LOAD_RECORDS):
        _acknowledge_on_bucket(policy, bucket, acknowledgement)
    _acknowledge_arn(policy, LAKE_TABLES, "<lake tables>", lake_tables_arn)


def acknowledge_lake_router_lag(policy: iam.ManagedPolicy) -> None:
    """The loader's `cloudwatch:GetMetricStatistics` on `*`, on its own managed policy only."""
    Validations.of(policy).acknowledge(LAKE_ROUTER_LAG)


def acknowledge_replay_manifests(role: iam.IRole | None, bucket: s3.IBucket) -> None:
    """The plan step's `<archive bucket>/_replays/*` grant (PutObject), on its role policy only."""
    _acknowledge_on_bucket(_default_policy(role), bucket, REPLAY_MANIFESTS)


def acknowledge_replay_archive_objects(role: iam.IRole | None, bucket: s3.IBucket) -> None:
    """The worker's `<archive bucket>/source_id=*` grant (GetObject), on its role policy only."""
    _acknowledge_on_bucket(_default_policy(role), bucket, REPLAY_ARCHIVE_OBJECTS)


def acknowledge_replay_state_machine(role: iam.IRole, bucket: s3.IBucket, child_executions_arn: str) -> None:
    """The workflow role's manifest read and its own child executions, on its role policy only."""
    _acknowledge_workflow(role, bucket, child_executions_arn, REPLAY_MANIFESTS, REPLAY_CHILD_EXECUTIONS)


def acknowledge_deletion_state_machine(role: iam.IRole, bucket: s3.IBucket, child_executions_arn: str) -> None:
    _acknowledge_workflow(role, bucket, child_executions_arn, DELETION_RECORDS, DELETION_CHILD_EXECUTIONS)


def acknowledge_deletion_grants(
    role: iam.IRole | None, bucket: s3.IBucket, *, archive_objects: bool, debugger_objects: bool = False
) -> None:
    """A deletion step's `_deletions/*` grants, the worker's `source_id=*` ones and the finish step's
    `_debugger/*` ones, on its role policy only."""
    policy = _default_policy(role)
    _acknowledge_on_bucket(policy, bucket, DELETION_RECORDS)
    if archive_objects:
        _acknowledge_on_bucket(policy, bucket, DELETION_ARCHIVE_OBJECTS)
    if debugger_objects:
        _acknowledge_on_bucket(policy, bucket, DELETION_DEBUGGER_OBJECTS)


def _acknowledge_workflow(
    role: iam.IRole,
    bucket: s3.IBucket,
    child_executions_arn: str,
    manifests: Acknowledgment,
    child_executions: Acknowledgment,
) -> None:
    policy = _default_policy(role)
    _acknowledge_on_bucket(policy, bucket, manifests)
    arn = _concrete(policy, child_executions_arn)
    Validations.of(policy).acknowledge(
        Acknowledgment(id=child_executions.id.replace("<child executions>", arn), reason=child_executions.reason)
    )


DESTINATION_CREDENTIALS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<destination credentials>]",
    reason="Destinations are added by `switchyard apply` at run time, not at deploy time, so their "
    "credentials parameters cannot be listed in the template. The grant is ssm:GetParameter only, "
    "on `/switchyard/<region>/destinations/*/credentials` (this region's destination credentials "
    "and nothing else), for the delivery function, the one component that sends to destinations.",
)


def acknowledge_destination_credentials(function: lambda_.Function, parameter_arn: str) -> None:
    """The delivery function's read of every destination's credentials parameter, on its role only."""
    policy = _default_policy(function.role)
    _acknowledge_arn(policy, DESTINATION_CREDENTIALS, "<destination credentials>", parameter_arn)


def _acknowledge_arn(scope: IConstruct, acknowledgement: Acknowledgment, placeholder: str, arn: str) -> None:
    """`acknowledgement` with `placeholder` replaced by `arn` as cdk-nag prints it, on `scope`."""
    Validations.of(scope).acknowledge(
        Acknowledgment(id=acknowledgement.id.replace(placeholder, _concrete(scope, arn)), reason=acknowledgement.reason)
    )


def _default_policy(role: iam.IRole | None) -> IConstruct:
    if role is None:
        raise ValueError("the function has no role to acknowledge findings on")
    return role.node.find_child("DefaultPolicy")


def _concrete(scope: IConstruct, arn: str) -> str:
    """The ARN as cdk-nag prints it: the regional stacks have a concrete account and region."""
    resolved = Stack.of(scope).resolve(arn)
    if not isinstance(resolved, str):
        raise ValueError(f"{arn} does not resolve to a literal ARN: give the stack an account and region")
    return resolved


def _acknowledge_on_bucket(policy: IConstruct, bucket: s3.IBucket, acknowledgement: Acknowledgment) -> None:
    """`acknowledgement` with `<ArchiveBucket.Arn>` replaced by the bucket's logical id, as cdk-nag names it."""
    cfn_bucket = bucket.node.default_child
    if not isinstance(cfn_bucket, CfnResource):
        raise TypeError(f"unexpected bucket resource {cfn_bucket!r}")
    logical_id = Stack.of(bucket).resolve(Stack.of(bucket).get_logical_id(cfn_bucket))
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id=acknowledgement.id.replace("<ArchiveBucket.Arn>", f"<{logical_id}.Arn>"),
            reason=acknowledgement.reason,
        )
    )


def acknowledged(construct: IConstruct) -> list[dict[str, str]]:
    """The acknowledgements recorded on one construct (for tests and reviews)."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for entry in construct.node.metadata:
        if entry.type == key:
            data = entry.data
            found.extend(data if isinstance(data, list) else [data])
    return found
