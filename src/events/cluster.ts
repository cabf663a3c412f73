import { Schema } from "effect"

/** The first event of every log: the cluster's identity, generated once at first start. */
export class ClusterInitialized extends Schema.TaggedClass<ClusterInitialized>()("ClusterInitialized", {
  version: Schema.Literal(1),
  clusterUuid: Schema.String
}) {}
