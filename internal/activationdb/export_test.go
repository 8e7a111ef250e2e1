package activationdb

// BulkResult is an entry of a _bulk_docs answer, for the fuzz test.
type BulkResult = bulkResult

// DecodeBulkAnswer decodes a _bulk_docs answer, for the fuzz test.
func DecodeBulkAnswer(raw []byte, ids []string) ([]BulkResult, error) {
	return decodeBulkAnswer(raw, ids)
}

// MaxBulkAnswer is the bound of the answer to a request of n documents.
func MaxBulkAnswer(n int) int64 { return maxBulkAnswer(n) }
