import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { auditPath, merkleRoot, rootFromAuditPath } from './merkle-tree';

// The Certificate Transparency reference vectors (RFC 6962 test data of certificate-transparency-go).
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('RFC 6962 Merkle tree', () => {
  it('computes the reference roots for trees of 1 to 8 leaves', () => {
    ROOTS.forEach((root, i) => assert.equal(merkleRoot(LEAVES.slice(0, i + 1)).toString('hex'), root, `tree of ${i + 1}`));
  });

  it('every audit path of trees up to 33 leaves leads to the root, and only from its own leaf and position', () => {
    for (let n = 1; n <= 33; n++) {
      const leaves = Array.from({ length: n }, (_, i) => Buffer.from(`leaf-${i}`));
      const root = merkleRoot(leaves);
      for (let m = 0; m < n; m++) {
        const path = auditPath(m, leaves);
        assert.deepEqual(rootFromAuditPath(leaves[m], m, n, path), root, `n=${n} m=${m}`);
        const other = rootFromAuditPath(Buffer.from('forged'), m, n, path);
        assert.notDeepEqual(other, root);
        if (n > 1) {
          const moved = rootFromAuditPath(leaves[m], (m + 1) % n, n, path);
          assert.ok(moved === null || !moved.equals(root), `n=${n} m=${m} accepted at another index`);
        }
      }
    }
  });

  it('rejects an index outside the tree', () => {
    assert.equal(rootFromAuditPath(LEAVES[0], 3, 3, []), null);
    assert.throws(() => auditPath(2, LEAVES.slice(0, 2)), RangeError);
  });
});
