virsh vol-dumpxml @LOOP_GPT@p6 --pool diskgpt
