// Explicit GPU lifetimes: tensors created inside a scope are disposed when it ends unless returned
// or kept. Never rely on GC to free GPU memory.
export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

export class ScopeStack {
  private readonly stack: Set<Disposable>[] = [];

  track(t: Disposable): void {
    this.stack[this.stack.length - 1]?.add(t);
  }

  /** Removes `t` from the innermost scope holding it, so it outlives that scope. */
  keep(t: Disposable): void {
    for (let i = this.stack.length - 1; i >= 0; i--) if (this.stack[i].delete(t)) return;
  }

  run<T>(fn: () => T, collectResult: (r: T) => Disposable[]): T {
    const scope = new Set<Disposable>();
    this.stack.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.stack.pop();
      for (const t of scope) t.dispose();
      throw e;
    }
    this.stack.pop();
    const survivors = new Set(collectResult(result));
    for (const t of scope) {
      if (survivors.has(t)) this.track(t); // hand results to the enclosing scope
      else if (!t.disposed) t.dispose();
    }
    return result;
  }
}
