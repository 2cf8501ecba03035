// The GraphQL selections the pages share, so the list, the detail page and the live
// updates read the same fields the same way.

export const COUNTERS = `
  id name state runAt createdAt audienceSizeEstimate audienceSizeActual
  delivered failed skipped startedAt finishedAt deliveryRate dropRate
  usedFallback usedFallbackShare retryOfBroadcastId overdueBy stalledFor`;

export const ROW = `
  contact { id name } channel outcome status errorReason usedFallback
  sentAt deliveredAt recordedAt cursor`;
