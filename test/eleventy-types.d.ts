/** The part of Eleventy 3's programmatic API test/eleventy-example.test.ts uses (the package ships no types). */
declare module '@11ty/eleventy' {
  export class Eleventy {
    constructor(input: string, output: string, options?: { configPath?: string; quietMode?: boolean });
    write(): Promise<unknown>;
  }
}
