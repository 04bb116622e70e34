import { name } from '#crypto-default';
export const backendName: string = name;
