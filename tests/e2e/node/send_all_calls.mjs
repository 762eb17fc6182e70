// Sends one of each call type with the real @segment/analytics-node SDK.
// Usage: node send_all_calls.mjs <host> <writeKey> <runId>; prints {"errors": [...]} on stdout.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, runId] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 6, flushInterval: 200, maxRetries: 3 })
const errors = []
analytics.on('error', (error) => errors.push(String(error && (error.reason || error.message || error))))

const common = { userId: `node-${runId}`, messageId: undefined }
analytics.identify({ ...common, traits: { plan: 'pro', run: runId } })
analytics.track({ ...common, event: 'Order Completed', properties: { revenue: 42.5, run: runId } })
analytics.page({ ...common, name: 'Pricing', properties: { run: runId } })
analytics.screen({ ...common, name: 'Home', properties: { run: runId } })
analytics.group({ ...common, groupId: `org-${runId}`, traits: { run: runId } })
analytics.alias({ userId: `node-${runId}`, previousId: `anon-${runId}` })

await analytics.closeAndFlush({ timeout: 15000 })
process.stdout.write(JSON.stringify({ errors }) + '\n')
