package aggregate

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSpoolReplay: whatever the spool file holds (a torn write, another
// version's lines), replay neither panics nor counts a non-positive row.
func FuzzSpoolReplay(f *testing.F) {
	f.Add([]byte(`{"Key":{"Period":{"Begin":0,"End":86399},"PolicyDomain":"example.com","RecordFP":"fp","RowHash":"h"},"Policy":{"Domain":"example.com"},"Row":{"SourceIP":"192.0.2.1","HeaderFrom":"example.com","Disposition":"pass","Count":2},"LastSeen":5}` + "\n"))
	f.Add([]byte("{\"Row\":{\"Count\":-1}}\n{not json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "spool")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sp, err := openSpool(path, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.close()
		b, err := sp.takeReplay(24 * time.Hour)
		if err != nil {
			return
		}
		for k, r := range b.Rows {
			if r.Count <= 0 {
				t.Errorf("row %v counts %d", k, r.Count)
			}
		}
	})
}
