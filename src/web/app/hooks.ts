import { useEffect, useState } from 'preact/hooks';
import { live, type Live, type Slice } from './live';

/** The live state; the calling component renders again whenever one of `slices` changes. */
export function useLive(...slices: Slice[]): Live {
  const [, setVersion] = useState(0);
  const key = slices.join(',');
  useEffect(() => live.subscribe(key.split(',') as Slice[], () => setVersion((n) => n + 1)), [key]);
  return live;
}
