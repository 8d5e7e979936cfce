import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  ASSUMPTIONS,
  costModel,
  operationOf,
  PRICES,
  readTables,
  readUnits,
  renderDocument,
  renderTables,
  s3EgressCost,
  uploadOperations,
} from '../scripts/cost-model.js';

const doc = await readFile('docs/COST.md', 'utf8');
const units = readUnits(doc);

describe('docs/COST.md', () => {
  it('has the tables the model computes from the unit counts it records (npm run cost; --render after a price change)', () => {
    const computed = renderTables(units) as Record<string, string>;
    const written = readTables(doc);
    const names: Record<string, string> = {
      summary: 'summary',
      storeUnits: 'store-units',
      publishTable: 'publish',
      storeCost: 'store-cost',
      boardUnits: 'board-units',
      boardCost: 'board-cost',
    };
    expect(Object.keys(written).sort()).toEqual(Object.values(names).sort());
    for (const [key, name] of Object.entries(names)) expect(written[name], `table ${name}`).toBe(computed[key]);
  });

  it('is, prose and all, what the script renders from those unit counts', () => {
    expect(renderDocument(units)).toBe(doc);
  });
});

describe('the cost model', () => {
  it('charges S3 egress by its monthly tiers', () => {
    expect(s3EgressCost(0)).toBe(0);
    expect(s3EgressCost(100)).toBeCloseTo(9, 6);
    // 10 TB at $0.09, 40 TB at $0.085, 100 TB at $0.07, then $0.05.
    expect(s3EgressCost(200 * 1024)).toBeCloseTo(10 * 1024 * 0.09 + 40 * 1024 * 0.085 + 100 * 1024 * 0.07 + 50 * 1024 * 0.05, 6);
  });

  it('counts one PUT up to the part size, a multipart upload above it', () => {
    const part = 16 * 1024 * 1024;
    expect(uploadOperations(part, part)).toEqual({ PutObject: 1 });
    expect(uploadOperations(part * 2 + 1, part)).toEqual({ CreateMultipartUpload: 1, UploadPart: 3, CompleteMultipartUpload: 1 });
  });

  it('names the S3 operation of each request the proxy sees', () => {
    expect(operationOf('GET', '/bucket/prefix/abc/manifest.json')).toBe('GetObject');
    expect(operationOf('GET', '/bucket?list-type=2&prefix=abc%2F')).toBe('ListObjectsV2');
    expect(operationOf('HEAD', '/bucket/prefix/key')).toBe('HeadObject');
    expect(operationOf('PUT', '/bucket/key?partNumber=2&uploadId=x')).toBe('UploadPart');
    expect(operationOf('POST', '/bucket/key?uploads')).toBe('CreateMultipartUpload');
    expect(operationOf('POST', '/bucket/key?uploadId=x')).toBe('CompleteMultipartUpload');
    expect(operationOf('DELETE', '/bucket/key')).toBe('DeleteObject');
  });

  it('makes deltas cut egress and cost on S3, not the number of GETs', () => {
    const model = costModel(units);
    for (const size of model.sizes) {
      const withDeltas = size.scenarios[0]!;
      const without = size.scenarios[1]!;
      expect(withDeltas.deltas && !without.deltas).toBe(true);
      expect(withDeltas.day.egressBytes).toBeLessThan(without.day.egressBytes / 10);
      expect(withDeltas.cost.s3.month).toBeLessThan(without.cost.s3.month);
      // The same polls; only the publish's few GETs and HEADs of chunk lists and deltas differ.
      expect(withDeltas.day.classes.B / without.day.classes.B).toBeCloseTo(1, 3);
      expect(withDeltas.cost.r2.egress).toBe(0);
    }
    // Twice the pods, twice the board's rows written (all of it past the included allowance here).
    const doubled = costModel(units, { ...ASSUMPTIONS, pods: ASSUMPTIONS.pods * 2 }, PRICES);
    expect(doubled.board.day.rowsWritten).toBeGreaterThan(model.board.day.rowsWritten * 1.99);
  });
});
