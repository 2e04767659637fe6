// Reads a Parquet file with hyparquet, an independent (pure JavaScript) Parquet
// implementation, and prints what it found as JSON for hyparquet_test.go.
//
// usage: node hyparquet_read.mjs <hyparquet dir> <hyparquet-compressors dir> <file>
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [hyDir, compDir, file] = process.argv.slice(2)
const load = (dir, entry) => import(pathToFileURL(path.join(dir, entry)).href)
const hy = await load(hyDir, 'src/node.js')
const { compressors } = await load(compDir, 'src/index.js')

const buf = await hy.asyncBufferFromFile(file)
const md = await hy.parquetMetadataAsync(buf)
const schema = hy.parquetSchema(md)
const rows = await hy.parquetReadObjects({ file: buf, compressors })

// JSON has no bigint, Date or bytes: uint64 and int64 become decimal strings,
// timestamps unix milliseconds, byte arrays hex.
const plain = (v) => {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Date) return v.getTime()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  return v
}
const columns = schema.children.map((c) => ({
  name: c.element.name,
  type: c.element.type,
  logical: c.element.logical_type?.type ?? null,
  encodings: md.row_groups[0].columns.find((x) => x.meta_data.path_in_schema[0] === c.element.name)
    .meta_data.encodings,
  codec: md.row_groups[0].columns.find((x) => x.meta_data.path_in_schema[0] === c.element.name)
    .meta_data.codec,
}))
const out = {
  num_rows: Number(md.num_rows),
  row_groups: md.row_groups.length,
  columns,
  key_value: Object.fromEntries((md.key_value_metadata ?? []).map((kv) => [kv.key, kv.value])),
  rows: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)]))),
}
process.stdout.write(JSON.stringify(out))
