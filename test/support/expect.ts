/** Assertions shared by the HTTP tests: the error envelope and the headers every answer carries. */
import { expect } from "@effect/vitest"
import type { TestResponse } from "./server.ts"

/**
 * Expects an error answer: the status, `{"error": message, "data": …}` as JSON, a `cluster-uuid` header and no
 * `Access-Control-Allow-Origin` (InfluxDB sets it on successes only).
 */
export const expectError = (res: TestResponse, status: number, message?: string | RegExp, data: unknown = null) => {
  expect({ status: res.status, text: res.text }).toMatchObject({ status })
  expect(res.headers.get("content-type")).toMatch(/^application\/json/)
  const body = res.json<{ error: unknown; data: unknown }>()
  expect(Object.keys(body).sort()).toEqual(["data", "error"])
  expect(typeof body.error).toBe("string")
  if (typeof message === "string") expect(body.error).toBe(message)
  else if (message !== undefined) expect(body.error).toMatch(message)
  expect(body.data).toEqual(data)
  expect(res.headers.get("cluster-uuid")).toMatch(/^[0-9a-f-]{36}$/)
  expect(res.headers.get("access-control-allow-origin")).toBeNull()
  return body
}

/**
 * Expects a success with the given status and the success headers (`cluster-uuid`,
 * `Access-Control-Allow-Origin: *`).
 */
export const expectOk = (res: TestResponse, status = 200) => {
  expect({ status: res.status, text: res.text }).toMatchObject({ status })
  expect(res.headers.get("cluster-uuid")).toMatch(/^[0-9a-f-]{36}$/)
  expect(res.headers.get("access-control-allow-origin")).toBe("*")
  return res
}
