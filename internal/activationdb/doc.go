// Package activationdb writes the activation records of direct steps (the
// workflow steps wsk-route runs between warm action containers, which
// OpenWhisk's invoker never sees) into OpenWhisk's activation store, so that
// `wsk activation list/get/logs/result` show them like any other activation.
//
// It writes what OpenWhisk's invoker writes with its default store: the
// invoker's ActivationStore (ArtifactActivationStore, core/database/
// ArtifactActivationStore.scala) puts a WhiskActivation through
// CouchDbRestStore and CouchDbRestClient (core/database/) into the CouchDB
// database configured as whisk.couchdb.databases.WhiskActivation. The
// document is WhiskActivation's JSON (core/entity/WhiskActivation.scala)
// plus the fields WhiskEntity and WhiskDocument add (core/entity/
// WhiskEntity.scala, WhiskStore.scala): "_id" = namespace + "/" +
// activationId, "entityType" = "activation" and "updated". OpenWhisk's
// views (ansible/files/whisks_design_document_for_activations_db*.json)
// select documents that have an activationId and key them by namespace
// (and action name) and start, so a document written here is listed with
// the invoker's own.
//
// PutActivation writes one record (PUT /{db}/{namespace%2FactivationId},
// as the invoker's CouchDbRestClient.putDoc); PutActivations writes
// several in one POST /{db}/_bulk_docs (CouchDbRestClient.putDocs, which
// the invoker's activation store sends through its Batcher, up to 500
// documents a request), and says which records were not written.
//
// It also reads what the invoker knows of an action and a direct step's
// proxy does not: LookupAction reads the action's document from the
// entity database (whisk.couchdb.databases.WhiskEntity, OpenWhisk's
// "<db_prefix>whisks", where WhiskAction documents have the action's path
// as their id) for its kind and limits, which the agent puts in the
// records' "kind" and "limits" annotations and the user events.
//
// A Store is safe for concurrent use by multiple goroutines.
package activationdb
