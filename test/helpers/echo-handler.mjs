// Test-only Lambda handler module: answers each job with its own key as the
// ETag, so that tests can check the order of results. A key containing
// `pad-<n>` gets an n-byte `skipped` text, to make responses as large as needed.
export const handler = async (event) => ({
  results: event.jobs.map((job) => {
    const pad = /pad-(\d+)/.exec(job.key);
    return { ok: true, bytes: 0, ms: 0, etag: job.key, skipped: pad ? 'x'.repeat(Number(pad[1])) : undefined };
  }),
});
