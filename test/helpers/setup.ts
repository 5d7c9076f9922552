// The AWS SDK versions are pinned below the Node 22 cut-over; its reminder is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The SDK's credential chain reads these for the destination, in the daemon and
// in the local Lambda workers (which inherit this environment). s3rver checks
// only that the key id is its own; test files on the Ceph RADOS Gateway call
// useRgwCredentials() (helpers/services.ts) instead.
process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
