"""A Switchyard region: one independent stack per region, composed of one construct per capability.

Later capabilities plug in through the attributes set here, e.g. in their own construct::

    worker = stack.make_function(scope, "Worker", code=FUNCTIONS_DIR / "replay_worker", description=...)
    stack.archive.grant_read_objects(worker)
    stack.delivery_queue.grant_send_messages(worker)
    stack.observability.watch_function(worker, "Replay worker")
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.alerts import Alerts
from infra.analysts import AnalystsAccess
from infra.archive import Archive
from infra.archive_catalog import ArchiveCatalog
from infra.config_table import ConfigTable
from infra.dedupe_table import DedupeTable
from infra.deletion import Deletion
from infra.delivery import Delivery
from infra.destination_grants import grant_destination_access
from infra.events_stream import EventsStream
from infra.ingest import IngestFunction
from infra.lake import Lake
from infra.lambda_defaults import LambdaDefaults
from infra.observability import Observability
from infra.options import StackOptions
from infra.replay import Replay
from infra.router import Router
from infra.tracking_api import TrackingApi
from infra.user_functions import UserFunctions
from switchyard import constants
from switchyard.alerts.names import OUTPUT_ALERT_TOPIC


class RegionalStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, options: StackOptions | None = None, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        region = self.region
        self.options = options or StackOptions.from_context(self, region)
        Tags.of(self).add("project", constants.SERVICE_NAME)

        # Shared frame.
        self.lambdas = LambdaDefaults(self, "LambdaDefaults", options=self.options)
        self.make_function = self.lambdas.make_function
        self.dependencies_layer = self.lambdas.dependencies_layer
        self.domain_layer = self.lambdas.domain_layer
        self.observability = Observability(self, "Observability", options=self.options)

        # Data.
        self.events = EventsStream(self, "Events", options=self.options)
        self.events_stream = self.events.stream
        self.config = ConfigTable(self, "Config", options=self.options)
        self.config_table = self.config.table
        self.dedupe = DedupeTable(self, "Dedupe", options=self.options)
        self.dedupe_table = self.dedupe.table
        self.archive = Archive(self, "Archive", options=self.options)
        self.archive_bucket = self.archive.bucket
        self.archive_catalog = ArchiveCatalog(self, "ArchiveCatalog", bucket=self.archive_bucket, options=self.options)
        self.analysts = AnalystsAccess(self, "Analysts", archive=self.archive)

        # Ingest path.
        self.ingest = IngestFunction(
            self,
            "Ingest",
            defaults=self.lambdas,
            options=self.options,
            stream=self.events_stream,
            config_table=self.config_table,
        )
        self.tracking_api = TrackingApi(self, "TrackingApi", handler=self.ingest.function, options=self.options)
        # At most one is set: a REST API behind AWS WAF (the `waf` option), an HTTP API, or neither (`front_door=alb`).
        self.rest_api = self.tracking_api.rest_api
        self.http_api = self.tracking_api.http_api

        self.observability.watch_tracking_api(self.tracking_api)
        if self.tracking_api.firewall is not None:
            self.observability.watch_firewall(self.tracking_api.firewall.web_acl_name)
        self.observability.watch_messages()
        self.observability.watch_function(self.ingest.function, "Ingest")
        self.observability.watch_stream(self.events_stream)

        # Router and delivery path.
        self.delivery = Delivery(
            self, "Delivery", defaults=self.lambdas, options=self.options, config_table=self.config_table
        )
        self.delivery_queue = self.delivery.queue
        self.delivery_table = self.delivery.table
        self.ingest.count_discards_in(self.delivery_table)
        # AWS-native destinations of the workspace: PutEvents / PutRecordBatch on exactly their ARNs.
        self.destination_targets = grant_destination_access(self.delivery.function.role, self.options.workspace_path)
        self.router = Router(
            self,
            "Router",
            defaults=self.lambdas,
            options=self.options,
            stream=self.events_stream,
            config_table=self.config_table,
            dedupe_table=self.dedupe_table,
            archive=self.archive,
            delivery_queue=self.delivery_queue,
            delivery_table=self.delivery_table,
        )
        self.observability.watch_function(self.router.function, "Router")
        self.observability.watch_router()
        self.observability.watch_function(self.delivery.function, "Delivery")
        self.observability.watch_delivery(
            self.delivery_queue,
            self.delivery.dead_letter_queue,
            success_threshold=self.options.delivery_success_alarm_threshold,
        )

        # Replay: the workflow over the archive, and the replay lane of the delivery path.
        self.replay = Replay(
            self,
            "Replay",
            defaults=self.lambdas,
            options=self.options,
            archive=self.archive,
            delivery=self.delivery,
        )
        self.replay_queue = self.replay.queue
        self.replay_state_machine = self.replay.state_machine
        self.observability.watch_replay(self.replay_state_machine, self.replay_queue)
        self.observability.watch_function(self.replay.plan_function, "Replay plan")
        self.observability.watch_function(self.replay.worker_function, "Replay worker")
        self.observability.watch_function(self.replay.report_function, "Replay report")

        # Workspace functions (the `workspace` option): each its own Lambda, reaching nothing of the
        # pipeline; ingest invokes the source functions, delivery the insert and destination ones.
        self.user_functions = UserFunctions(
            self,
            "UserFunctions",
            defaults=self.lambdas,
            options=self.options,
            ingest=self.ingest.function,
            delivery=self.delivery.function,
        )
        self.observability.watch_user_functions(self.user_functions.functions)

        # The lake: the archive as Parquet tables, loaded hourly (the router's lag says when an hour
        # is complete), and the Athena workgroup to query it and the archive.
        self.lake = Lake(
            self,
            "Lake",
            defaults=self.lambdas,
            options=self.options,
            archive=self.archive,
            config_table=self.config_table,
            router_function=self.router.function,
            observability=self.observability,
        )

        # User deletion: the workflow over the archive, the stored samples and the destinations, and
        # the lake's hours it rewrote (reloaded by the lake loader).
        self.deletion = Deletion(
            self,
            "Deletion",
            defaults=self.lambdas,
            options=self.options,
            archive=self.archive,
            delivery=self.delivery,
            config_table=self.config_table,
            dedupe_table=self.dedupe_table,
            lake_loader=self.lake.function,
        )
        self.user_functions.grant_destination_invoke(self.deletion.finish_function)  # their on_delete
        self.observability.watch_deletion(self.deletion.state_machine)
        self.observability.watch_function(self.deletion.plan_function, "Deletion plan")
        self.observability.watch_function(self.deletion.worker_function, "Deletion worker")
        self.observability.watch_function(self.deletion.finish_function, "Deletion finish")
        # Workspace alerts: the topic their alarms notify (the alarms are `switchyard apply`'s), the
        # Slack forwarder, and the volume check that feeds the source-volume alarms.
        self.alerts = Alerts(self, "Alerts", defaults=self.lambdas, observability=self.observability)
        # Later capabilities add their constructs above this line: the summary lists the alarms so far.
        self.observability.add_alarm_summary()

        self._outputs()

    def _outputs(self) -> None:
        """Plain outputs whose keys are the constants the CLI looks up (no exports: regions are apart)."""
        CfnOutput(
            self,
            constants.OUTPUT_API_ENDPOINT,
            value=self.tracking_api.endpoint,
            description="The SDKs' host for this region",
        )
        CfnOutput(
            self,
            constants.OUTPUT_FUNCTION_WEBHOOKS,
            value=self.tracking_api.function_webhooks,
            description="Source-function webhooks: POST <this>/<function id>?token=...",
        )
        if self.tracking_api.firewall is not None:
            CfnOutput(
                self,
                constants.OUTPUT_WEB_ACL,
                value=self.tracking_api.firewall.web_acl.attr_arn,
                description="The tracking API's AWS WAF web ACL (the waf option)",
            )
        CfnOutput(self, constants.OUTPUT_EVENTS_STREAM, value=self.events_stream.stream_name)
        CfnOutput(self, constants.OUTPUT_CONFIG_TABLE, value=self.config_table.table_name)
        CfnOutput(self, constants.OUTPUT_DEDUPE_TABLE, value=self.dedupe_table.table_name)
        CfnOutput(self, constants.OUTPUT_ARCHIVE_BUCKET, value=self.archive_bucket.bucket_name)
        CfnOutput(
            self,
            constants.OUTPUT_ANALYSTS_POLICY,
            value=self.analysts.policy.managed_policy_arn,
            description="Attach to analysts' roles: query the archive and the lake in the stack's Athena workgroup",
        )
        CfnOutput(self, constants.OUTPUT_DELIVERY_QUEUE, value=self.delivery_queue.queue_url)
        CfnOutput(self, constants.OUTPUT_DELIVERY_TABLE, value=self.delivery_table.table_name)
        CfnOutput(
            self,
            constants.OUTPUT_REPLAY_STATE_MACHINE,
            value=self.replay_state_machine.state_machine_arn,
            description="The replay workflow (`switchyard replay start`)",
        )
        CfnOutput(self, constants.OUTPUT_REPLAY_QUEUE, value=self.replay_queue.queue_url)
        CfnOutput(
            self,
            constants.OUTPUT_DELETION_STATE_MACHINE,
            value=self.deletion.state_machine.state_machine_arn,
            description="The user deletion workflow (`switchyard users delete`)",
        )
        CfnOutput(
            self,
            constants.OUTPUT_ARCHIVE_RETENTION_DAYS,
            value=str(self.options.archive_retention_days),
            description="Archive objects expire after this many days: replays cannot start earlier",
        )
        CfnOutput(
            self,
            constants.OUTPUT_LAKE_DATABASE,
            value=constants.LAKE_DATABASE,
            description="The lake's Glue database: Segment-schema Parquet tables (`switchyard lake tables`)",
        )
        CfnOutput(
            self,
            constants.OUTPUT_LAKE_LOADER,
            value=self.lake.function.function_name,
            description="The lake loader, run hourly (`switchyard lake load` runs it for the hours given)",
        )
        CfnOutput(
            self,
            constants.OUTPUT_ATHENA_WORKGROUP,
            value=self.lake.workgroup.ref,
            description="The Athena workgroup for the archive and the lake (`switchyard lake query`)",
        )
        CfnOutput(self, constants.OUTPUT_ALARM_TOPIC, value=self.observability.alarm_topic.topic_arn)
        CfnOutput(
            self,
            OUTPUT_ALERT_TOPIC,
            value=self.alerts.topic.topic_arn,
            description="Workspace alerts notify this topic (`switchyard alerts`)",
        )
        if self.tracking_api.domain_target is not None:
            CfnOutput(
                self,
                constants.OUTPUT_API_DOMAIN_TARGET,
                value=self.tracking_api.domain_target,
                description="Point a CNAME (or Route 53 alias) for the custom domain here",
            )
